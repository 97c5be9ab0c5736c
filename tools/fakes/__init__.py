"""The far side of the network, speaking the real protocols: a recording Bot API session (`bot_api`) and an
OpenAI-protocol server (`openai_stub`). One of each, shared by the tests and the tools."""
