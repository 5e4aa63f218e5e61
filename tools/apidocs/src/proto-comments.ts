import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createFileRegistry, fromBinary, type DescEnum, type DescField, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';

/**
 * The comments written in proto/. The generated code in libs/proto embeds its descriptors without
 * source info, so comments come from `buf build` of the same sources (proto:check keeps the two equal).
 */
export interface ProtoComments {
  message(typeName: string): string | undefined;
  field(typeName: string, protoName: string): string | undefined;
  enum(typeName: string): string | undefined;
  enumValue(typeName: string, valueName: string): string | undefined;
}

export const NO_COMMENTS: ProtoComments = { message: () => undefined, field: () => undefined, enum: () => undefined, enumValue: () => undefined };

/** Builds proto/ with buf (source info included) and reads the leading comment of each element. */
export function protoComments(root: string): ProtoComments {
  const image = execFileSync(join(root, 'node_modules/.bin/buf'), ['build', '--as-file-descriptor-set', '-o', '-'], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  return commentsOf(createFileRegistry(fromBinary(FileDescriptorSetSchema, image)));
}

export function commentsOf(registry: FileRegistry): ProtoComments {
  const message = (typeName: string) => registry.getMessage(typeName);
  const enumType = (typeName: string) => registry.getEnum(typeName);
  return {
    message: (typeName) => {
      const m = message(typeName);
      return m && leadingComment(m, messagePath(m));
    },
    field: (typeName, protoName) => {
      const m = message(typeName);
      const f = m?.fields.find((x) => x.name === protoName);
      return m && f && leadingComment(m, fieldPath(m, f));
    },
    enum: (typeName) => {
      const e = enumType(typeName);
      return e && leadingComment(e, enumPath(e));
    },
    enumValue: (typeName, valueName) => {
      const e = enumType(typeName);
      const i = e ? e.proto.value.findIndex((v) => v.name === valueName) : -1;
      return e && i >= 0 ? leadingComment(e, [...enumPath(e), 2, i]) : undefined;
    },
  };
}

// Paths of descriptor.proto's SourceCodeInfo: field numbers of FileDescriptorProto / DescriptorProto
// (message_type 4, nested_type 3, field 2, enum_type 5 in a file and 4 in a message, value 2).
function messagePath(m: DescMessage): number[] {
  return m.parent ? [...messagePath(m.parent), 3, m.parent.proto.nestedType.indexOf(m.proto)] : [4, m.file.proto.messageType.indexOf(m.proto)];
}

function fieldPath(m: DescMessage, f: DescField): number[] {
  return [...messagePath(m), 2, m.proto.field.indexOf(f.proto)];
}

function enumPath(e: DescEnum): number[] {
  return e.parent ? [...messagePath(e.parent), 4, e.parent.proto.enumType.indexOf(e.proto)] : [5, e.file.proto.enumType.indexOf(e.proto)];
}

function leadingComment(desc: DescMessage | DescEnum, path: number[]): string | undefined {
  const location = desc.file.proto.sourceCodeInfo?.location.find((l) => l.path.length === path.length && l.path.every((p, i) => p === path[i]));
  if (!location?.leadingComments) return undefined;
  // Hard-wrapped lines join into one; a blank comment line separates paragraphs.
  const text = location.leadingComments
    .split(/\n\s*\n/)
    .map((paragraph) =>
      paragraph
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean)
        .join(' '),
    )
    .filter(Boolean)
    .join('\n\n');
  return text || undefined;
}
