export { BpeTokenizer, END_OF_TEXT } from './bpe-tokenizer';
export { OnnxCausalLm, MODEL_ONNX, type Completion, type FinishReason, type GenerateOptions, type GeneratedChunk, type LoadOptions } from './onnx-causal-lm';
export { chatPrompt, CHAT_STOP, type ChatMessage } from './chat-prompt';
export { InferenceError, type InferenceErrorCode } from './inference-error';
