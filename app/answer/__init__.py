"""Answers to questions over the indexed documents: `ask` retrieves passages through
`app.search.docs` and streams an answer citing them; `generators` are the language-model
clients (Ollama, OpenAI-compatible) and the offline extractive answerer."""
