"""rnn-serve's HTTP service: LSTM and GRU models served with onnxruntime behind FastAPI.

Never imports torch: the serving image has none.
"""

__version__ = "0.1.0"
