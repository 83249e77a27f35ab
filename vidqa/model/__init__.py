"""The model: backends (a registry: transformers, openai), the messages and versioned prompts it
reads, chunk captions and answers it writes, and the Qwen3-VL presets."""
