import { rejection } from '../../test/rejection';
import {
  assertSafeFileName,
  classifyArtefact,
  isConfigFile,
  isParsedJsonFile,
  isShardIndexFile,
  isSingleWeightsFile,
  parseShardName,
  shardFileName,
} from './file-names';

describe('assertSafeFileName', () => {
  it.each([
    ['an empty name', '', 'empty'],
    ['a slash', '/', 'absolute path'],
    ['a backslash', '\\', 'absolute path'],
    ['..', '..', '".."'],
    ['.', '.', 'hidden'],
    ['a parent traversal', '../config.json', 'separator'],
    ['a nested parent traversal', 'weights/../../etc/passwd', 'separator'],
    ['a Windows traversal', '..\\..\\config.json', 'separator'],
    ['a subdirectory', 'onnx/model.onnx', 'separator'],
    ['an absolute POSIX path', '/etc/passwd', 'absolute path'],
    ['an absolute Windows path', '\\\\server\\share\\config.json', 'absolute path'],
    ['a Windows drive letter', 'C:\\config.json', 'drive letter'],
    ['a drive-relative path', 'c:config.json', 'drive letter'],
    ['a dot-dot inside the name', 'model..safetensors', '".."'],
    ['a hidden file', '.env', 'hidden'],
    ['a git directory name', '.git', 'hidden'],
    ['a NUL byte', 'config.json\u0000.png', 'NUL or control'],
    ['a newline', 'config\n.json', 'NUL or control'],
    ['a DEL character', 'config\u007f.json', 'NUL or control'],
    ['a name over 255 bytes', `${'a'.repeat(251)}.json`, 'longer than 255 bytes'],
    ['a space', 'my config.json', 'only ASCII'],
    ['a leading dash', '-rf', 'only ASCII'],
    ['non-ASCII letters', 'cönfig.json', 'only ASCII'],
    ['a fullwidth solidus', 'a\uff0fb', 'only ASCII'],
    ['a colon (NTFS stream)', 'config.json:evil', 'only ASCII'],
    ['a percent-encoded slash', '..%2fconfig.json', '".."'],
  ])('refuses %s', (_case, name, why) => {
    const error = rejection(() => assertSafeFileName(name));

    expect(error.code).toBe('invalid_file_name');
    expect(error.message).toContain(why);
    expect(error.message).toContain('upload each file under its plain name');
  });

  it('refuses a value that is not a string', () => {
    expect(rejection(() => assertSafeFileName(undefined as unknown as string)).code).toBe('invalid_file_name');
  });

  it.each(['config.json', 'model-00001-of-00002.safetensors', 'README.md', 'a', `${'a'.repeat(250)}.json`, 'v1+x_y-z'])('accepts %s', (name) => {
    expect(() => assertSafeFileName(name)).not.toThrow();
  });
});

describe('classifyArtefact', () => {
  it.each([
    ['config.json', 'config'],
    ['model.safetensors', 'weights'],
    ['model-00002-of-00003.safetensors', 'weights_shard'],
    ['model.safetensors.index.json', 'weights_index'],
    ['generation_config.json', 'generation_config'],
    ['preprocessor_config.json', 'processor_config'],
    ['tokenizer.json', 'tokenizer'],
    ['tokenizer_config.json', 'tokenizer'],
    ['special_tokens_map.json', 'tokenizer'],
    ['vocab.json', 'tokenizer'],
    ['vocab.txt', 'tokenizer'],
    ['merges.txt', 'tokenizer'],
    ['tokenizer.model', 'tokenizer'],
    ['added_tokens.json', 'tokenizer'],
    ['chat_template.jinja', 'tokenizer'],
    ['README.md', 'documentation'],
    ['LICENSE', 'documentation'],
    ['model.onnx', 'serving_graph'],
  ])('classifies %s as %s', (name, kind) => {
    expect(classifyArtefact(name)).toBe(kind);
  });

  it.each(['pytorch_model.bin', 'model.pt', 'weights.pth', 'model.pkl', 'model.ckpt', 'tf_model.h5', 'weights.onnx', 'model.gguf'])(
    'refuses %s, saying only safetensors weights are accepted',
    (name) => {
      const error = rejection(() => classifyArtefact(name));

      expect(error.code).toBe('unexpected_file');
      expect(error.path).toBe(name);
      expect(error.message).toContain('only safetensors weights are accepted');
    },
  );

  it.each(['modeling_custom.py', 'install.sh'])('refuses code such as %s', (name) => {
    const error = rejection(() => classifyArtefact(name));

    expect(error.code).toBe('unexpected_file');
    expect(error.message).toContain('may not contain code');
  });

  it.each(['notes.docx', 'Config.json', 'model.safetensors.bak', 'model-1-of-2.safetensors', 'weights.safetensors'])(
    'refuses %s, naming the allowed files',
    (name) => {
      const error = rejection(() => classifyArtefact(name));

      expect(error.code).toBe('unexpected_file');
      expect(error.message).toContain('allowed files are config.json, model.safetensors');
    },
  );

  it.each(['model-00000-of-00002.safetensors', 'model-00003-of-00002.safetensors', 'model-00001-of-00000.safetensors'])(
    'refuses the impossible shard %s',
    (name) => {
      expect(rejection(() => classifyArtefact(name)).code).toBe('invalid_file_name');
    },
  );

  it('checks the name before the allow-list', () => {
    expect(rejection(() => classifyArtefact('../pytorch_model.bin')).code).toBe('invalid_file_name');
  });
});

describe('name helpers', () => {
  it('parses and formats shard names', () => {
    expect(parseShardName('model-00002-of-00013.safetensors')).toEqual({ index: 2, total: 13 });
    expect(parseShardName('model.safetensors')).toBeUndefined();
    expect(shardFileName(2, 13)).toBe('model-00002-of-00013.safetensors');
  });

  it('recognises the config, the single weights file and the index', () => {
    expect(isConfigFile('config.json')).toBe(true);
    expect(isConfigFile('generation_config.json')).toBe(false);
    expect(isSingleWeightsFile('model.safetensors')).toBe(true);
    expect(isShardIndexFile('model.safetensors.index.json')).toBe(true);
  });

  it('parses small JSON files but not tokenizer vocabularies', () => {
    expect(isParsedJsonFile('config.json')).toBe(true);
    expect(isParsedJsonFile('tokenizer_config.json')).toBe(true);
    expect(isParsedJsonFile('tokenizer.json')).toBe(false);
    expect(isParsedJsonFile('vocab.json')).toBe(false);
  });
});
