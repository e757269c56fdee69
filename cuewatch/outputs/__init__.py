"""The files written for one analysed recording, shared with the exports."""
