"""Federated training of the glucose models across hospitals with Flower: each site trains on its
own CGM data and only model weights and counts leave it (see training/federated/README.md)."""
