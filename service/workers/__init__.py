"""``rnn-serve serve --workers N``: N server processes on one listening socket.

``supervisor.py`` binds the socket, forks the workers, restarts one that dies and forwards SIGTERM;
``shared.py`` holds the counters every worker writes and any worker reads, so the V2 statistics and
``/metrics`` answer for the whole server, whichever worker the kernel hands a scrape to.
"""
