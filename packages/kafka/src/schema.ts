/**
 * Record schemas: any Standard Schema v1 validator (https://standardschema.dev), the interface that
 * zod 4 (and `zod/mini`), valibot and arktype implement. zod stays the documented default. The
 * interface is the spec's own, declared here as the spec asks, so that no validator library is needed
 * for its types.
 */

/** A validator that implements Standard Schema v1; `Output` is what a valid record becomes. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaV1.Props<Input, Output>;
}

// eslint-disable-next-line @typescript-eslint/no-namespace -- the spec's own shape
export declare namespace StandardSchemaV1 {
  export interface Props<Input = unknown, Output = Input> {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>;
    readonly types?: Types<Input, Output> | undefined;
  }
  export type Result<Output> = SuccessResult<Output> | FailureResult;
  export interface SuccessResult<Output> {
    readonly value: Output;
    readonly issues?: undefined;
  }
  export interface FailureResult {
    readonly issues: readonly Issue[];
  }
  export interface Issue {
    readonly message: string;
    readonly path?: readonly (PropertyKey | PathSegment)[] | undefined;
  }
  export interface PathSegment {
    readonly key: PropertyKey;
  }
  export interface Types<Input = unknown, Output = Input> {
    readonly input: Input;
    readonly output: Output;
  }
}

/** Whether a value implements Standard Schema v1. */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
  const props = (value as { '~standard'?: { version?: unknown; validate?: unknown } })['~standard'];
  return typeof props === 'object' && props.version === 1 && typeof props.validate === 'function';
}

/** `a.b[0]`-style path of an issue, `(root)` for the value itself. */
export function issuePath(issue: StandardSchemaV1.Issue): string {
  if (issue.path === undefined || issue.path.length === 0) return '(root)';
  return issue.path.map((segment) => String(typeof segment === 'object' ? segment.key : segment)).join('.');
}
