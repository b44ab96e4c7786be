"""Worked examples that ship with cove and that ``cove demo`` runs."""
