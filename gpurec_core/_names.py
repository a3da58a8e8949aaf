"""The one name used for the plugin manager, the hook markers and the entry-point group."""

PROJECT_NAME = "gpurec"
