"""Put first on the PYTHONPATH of the code cove runs (see ``sitecustomize``); not imported by
cove itself."""
