"""The command line: parse, call the library, report. No algorithm lives here."""
