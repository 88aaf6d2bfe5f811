"""Dialogs: error reporting and export."""
