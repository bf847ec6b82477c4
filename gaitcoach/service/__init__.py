"""The gaitcoach service: configuration, the live pipeline, the terminal view and the demo."""
