"""Qt widgets, windows and the controller thread that bridges the pipeline to them."""
