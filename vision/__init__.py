"""Meal photo -> foods, carbohydrate and kcal. torch lives only in `efficientnet_lite` and
`recognizer_model`; decode, preprocess, taxonomy, metadata and recognition are numpy + Pillow for serving.
"""
