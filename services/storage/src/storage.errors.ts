import { Conflict, DomainError, Forbidden, NotFound } from '@clopen/service-kit';

export class ModelNotFound extends NotFound {
  constructor(id: string) {
    super(`model ${id} does not exist`);
  }
}

export class VersionNotFound extends NotFound {
  constructor(id: string) {
    super(`model version ${id} does not exist`);
  }
}

export class FileNotFound extends NotFound {
  constructor(versionId: string, path: string) {
    super(`version ${versionId} has no file ${JSON.stringify(path)}`);
  }
}

export class NotModelOwner extends Forbidden {
  constructor(modelId: string) {
    super(`only the owner of model ${modelId} or an admin may do this`);
  }
}

export class ModelNameTaken extends Conflict {
  constructor(ownerId: string, name: string) {
    super(`${ownerId} already has a model named ${JSON.stringify(name)}; choose another name`);
  }
}

export class VersionLabelTaken extends Conflict {
  constructor(modelId: string, label: string) {
    super(`model ${modelId} already has a version labelled ${JSON.stringify(label)}; versions are immutable, publish a new label`);
  }
}

/** The upload was refused; `code` says why (checksum_mismatch, truncated, corrupt_safetensors, …). */
export class UploadRejected extends DomainError {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    details?: Record<string, unknown>,
  ) {
    super(message, details);
  }
}
