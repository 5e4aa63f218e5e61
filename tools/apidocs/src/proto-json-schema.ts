import { ScalarType, type DescEnum, type DescField, type DescMessage } from '@bufbuild/protobuf';
import type { ProtoComments } from './proto-comments';

/** A JSON Schema (draft-07, as AsyncAPI's schema format is) object. */
export type JsonSchema = { [key: string]: unknown };

/** Where a schema component is referenced from: `#/components/schemas/<full proto name>`. */
export const schemaRef = (typeName: string) => ({ $ref: `#/components/schemas/${typeName}` });

/**
 * JSON Schemas of protobuf messages in the protobuf JSON mapping (what `toJson` writes and
 * `fromJson` reads): lowerCamelCase names, 64-bit integers and bytes as strings, enums by name,
 * Timestamps as RFC 3339. Every message and enum reached from the roots becomes one component,
 * named by its full proto name; the proto comments become descriptions.
 */
export class ProtoJsonSchemas {
  private readonly schemas = new Map<string, JsonSchema>();

  constructor(private readonly comments: ProtoComments) {}

  /** Adds the message and everything it reaches; returns a reference to it. */
  message(desc: DescMessage): JsonSchema {
    const wkt = wellKnown(desc.typeName);
    if (wkt) return wkt;
    if (!this.schemas.has(desc.typeName)) {
      const schema: JsonSchema = { type: 'object', title: desc.typeName };
      this.schemas.set(desc.typeName, schema);
      const description = this.comments.message(desc.typeName);
      if (description) schema.description = description;
      const properties: Record<string, JsonSchema> = {};
      for (const field of desc.fields) properties[field.jsonName] = this.field(desc, field);
      schema.properties = properties;
    }
    return schemaRef(desc.typeName);
  }

  /** Every component added so far, sorted by name so the output does not depend on the order of discovery. */
  components(): Record<string, JsonSchema> {
    return Object.fromEntries([...this.schemas.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  private field(owner: DescMessage, field: DescField): JsonSchema {
    let schema: JsonSchema;
    switch (field.fieldKind) {
      case 'scalar':
        schema = scalar(field.scalar);
        break;
      case 'enum':
        schema = this.enum(field.enum);
        break;
      case 'message':
        schema = this.message(field.message);
        break;
      case 'list':
        schema = {
          type: 'array',
          items: field.listKind === 'scalar' ? scalar(field.scalar) : field.listKind === 'enum' ? this.enum(field.enum) : this.message(field.message),
        };
        break;
      case 'map':
        schema = {
          type: 'object',
          additionalProperties:
            field.mapKind === 'scalar' ? scalar(field.scalar) : field.mapKind === 'enum' ? this.enum(field.enum) : this.message(field.message),
        };
        break;
    }
    const notes = [this.comments.field(owner.typeName, field.name)];
    if (field.oneof) notes.push(`One of ${field.oneof.fields.map((f) => f.jsonName).join(', ')} (oneof ${field.oneof.name}).`);
    const description = notes.filter(Boolean).join(' ');
    // A $ref stands alone in draft-07: a description beside it goes through allOf.
    if (description) schema = '$ref' in schema ? { description, allOf: [schema] } : { ...schema, description };
    return schema;
  }

  private enum(desc: DescEnum): JsonSchema {
    if (!this.schemas.has(desc.typeName)) {
      const values = desc.values.map((v) => v.name);
      const notes = desc.values
        .map((v) => [v.name, this.comments.enumValue(desc.typeName, v.name)] as const)
        .filter(([, comment]) => comment)
        .map(([name, comment]) => `${name}: ${comment}`);
      const description = [this.comments.enum(desc.typeName), ...notes].filter(Boolean).join('\n\n');
      this.schemas.set(desc.typeName, { type: 'string', title: desc.typeName, ...(description ? { description } : {}), enum: values });
    }
    return schemaRef(desc.typeName);
  }
}

function scalar(type: ScalarType): JsonSchema {
  switch (type) {
    case ScalarType.STRING:
      return { type: 'string' };
    case ScalarType.BOOL:
      return { type: 'boolean' };
    case ScalarType.BYTES:
      return { type: 'string', contentEncoding: 'base64' };
    case ScalarType.DOUBLE:
      return { type: 'number', format: 'double' };
    case ScalarType.FLOAT:
      return { type: 'number', format: 'float' };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: 'integer', format: 'int32', minimum: -2147483648, maximum: 2147483647 };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: 'integer', format: 'uint32', minimum: 0, maximum: 4294967295 };
    // The JSON mapping writes 64-bit integers as decimal strings (readers accept numbers too).
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { type: 'string', format: 'int64', pattern: '^-?[0-9]+$' };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: 'string', format: 'uint64', pattern: '^[0-9]+$' };
  }
}

/** Well-known types have their own JSON mapping; these are written inline. */
function wellKnown(typeName: string): JsonSchema | undefined {
  switch (typeName) {
    case 'google.protobuf.Timestamp':
      return { type: 'string', format: 'date-time' };
    case 'google.protobuf.Duration':
      return { type: 'string', pattern: '^-?[0-9]+(\\.[0-9]{1,9})?s$' };
    case 'google.protobuf.Empty':
      return { type: 'object' };
    case 'google.protobuf.Struct':
      return { type: 'object' };
    case 'google.protobuf.Value':
      return {};
    case 'google.protobuf.ListValue':
      return { type: 'array' };
    case 'google.protobuf.FieldMask':
      return { type: 'string' };
    case 'google.protobuf.Any':
      return { type: 'object', properties: { '@type': { type: 'string' } } };
    case 'google.protobuf.StringValue':
      return { type: 'string' };
    case 'google.protobuf.BoolValue':
      return { type: 'boolean' };
    case 'google.protobuf.BytesValue':
      return { type: 'string', contentEncoding: 'base64' };
    case 'google.protobuf.DoubleValue':
    case 'google.protobuf.FloatValue':
      return { type: 'number' };
    case 'google.protobuf.Int32Value':
    case 'google.protobuf.UInt32Value':
      return { type: 'integer' };
    case 'google.protobuf.Int64Value':
    case 'google.protobuf.UInt64Value':
      return { type: 'string', pattern: '^-?[0-9]+$' };
    default:
      return undefined;
  }
}
