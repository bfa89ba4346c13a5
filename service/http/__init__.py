"""The REST front end: routes decode requests and encode answers; the data plane does the rest."""
