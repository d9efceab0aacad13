"""borderwatch's embedded history: state intervals, incidents and hourly roll-ups of a running
collector in one SQLite file (history.writer, history.recorder), and the read API that
reports build on (history.reader). See history/README.md."""
