"""The window's controllers: each owns one job of the window and the widgets it drives."""
