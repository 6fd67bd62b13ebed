"""Importers for the CGM exports people actually have: Dexcom Clarity, LibreView, Nightscout, Apple Health, generic CSV."""
