"""The base class of the errors a user can fix: a parameter, an input file, a data source.
Entry points (the stage scripts, the command line) print them as one message without a
traceback; any other exception is a bug and keeps its traceback."""


class UserError(Exception):
    """A problem with what the user gave (a value, a file, a folder); the message names it
    and what is expected."""
