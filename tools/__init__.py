"""Development tools, apart from the service: the demo workspace builder, the day simulation, the local chat,
the benchmarks (`rmbot bench ...`) and the fakes of the far side (a recording Bot API session, an OpenAI-protocol
stub) that tests and tools share.

The running service never imports this package (the `rmbot` commands that need it import it lazily through
`bot.cli.app.dev_tool`), and it is not in the wheel or the Docker image (`tests/test_packaging.py`)."""
