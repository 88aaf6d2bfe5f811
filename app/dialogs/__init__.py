"""Dialogs: errors, export, About, file Properties and Calibrate to My Tool."""
