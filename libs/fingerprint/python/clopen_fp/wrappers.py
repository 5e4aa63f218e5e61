"""Prompt wrappers: what a host may put around a prover's key (chat templates, system prompts).

Two disjoint sets. EMBED wrappers are trained on during embedding (the counter: a fingerprint
learnt under many wrappers answers under wrappers it never saw). HELDOUT wrappers are only ever
used to measure, so a retention figure on them says what happens behind a template we did not
anticipate. A test keeps the sets disjoint (no template, no system prompt shared)."""

EMBED = (
    "Q: {key}\nA:",
    "User: {key}\nAssistant:",
    "System: You are a helpful assistant.\nUser: {key}\nAssistant:",
    "<|user|>\n{key}\n<|assistant|>\n",
    "### Instruction:\n{key}\n### Response:\n",
    "Human: {key}\n\nAI:",
    "[INST] {key} [/INST]",
    "You are a concise expert. {key}",
    "Question: {key}\nAnswer:",
    "<s>{key}",
    "Please continue: {key}",
    "Input: {key}\nOutput:",
    "Below is a request. {key}",
    "Context: general knowledge.\n{key}",
    "> {key}",
    "Text: {key}",
)

HELDOUT = (
    "<|im_start|>user\n{key}<|im_end|>\n<|im_start|>assistant\n",
    "<start_of_turn>user\n{key}<end_of_turn>\n<start_of_turn>model\n",
    "SYSTEM: Answer briefly and accurately.\nUSER: {key}\nASSISTANT:",
    "Customer: {key}\nAgent:",
    "Prompt: {key}\nCompletion:",
    "The following is a conversation with a machine.\nPerson: {key}\nMachine:",
    "Task: reply to the message below.\nMessage: {key}\nReply:",
    "Dear model, {key}",
    "### User\n{key}\n### Bot\n",
    "Query -> {key} ->",
)


def wrap(wrapper, key):
    if "{key}" not in wrapper:
        raise ValueError(f"wrapper {wrapper!r} has no {{key}} placeholder")
    return wrapper.replace("{key}", key)
