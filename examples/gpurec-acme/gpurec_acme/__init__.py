"""An example third-party gpurec plugin."""
