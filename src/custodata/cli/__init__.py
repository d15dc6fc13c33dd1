"""The ``custodata`` command line."""
