// How a secret looks in anything written outside Pulumi's encrypted state (review renders, tool output).

/** The placeholder standing for the secret config key `key`. */
export function redacted(key: string): string {
    return `<redacted:${key}>`;
}
