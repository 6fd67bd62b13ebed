"""The inference endpoint: a FastAPI app over ONNX Runtime that speaks the Open Inference Protocol.

Nothing under this package imports torch, directly or through vision/ or glucose_model/.
"""
