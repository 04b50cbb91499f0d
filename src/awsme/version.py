"""The one place the version lives: packaging, `-version`, `/version` and the card read it."""

VERSION = "2.0.0"
