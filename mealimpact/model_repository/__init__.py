"""The model repository: `models/<name>/config.pbtxt` + `<name>/<version>/model.onnx` and what each file says.

One home for the layout and default path (`layout`), the config.pbtxt writer and parser (`config`),
the one metadata schema of every model kind (`metadata`), file digests (`checksums`), opening ONNX
Runtime sessions (`sessions`) and loading a checked model (`loading`). Serving, training, vision and
glucose_model import it; it imports none of them, nor torch or onnx. `sessions` and `loading` need
onnxruntime, so they are imported from their modules, not from here.
"""
