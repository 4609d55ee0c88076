"""The tidal language: front end, checks, normalisation, code generation and loading."""
