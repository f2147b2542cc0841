// The policy pack's rules (policy/rules.ts) over a graph recorded under mocks: what `pulumi preview --policy-pack`
// would report, as one `<type> <name>: <finding>` line each. Used by the program tests.
import * as rules from "../../policy/rules";
import type { RecordedResource } from "./mocks";

export function policyFindings(recorded: RecordedResource[]): string[] {
    return recorded.flatMap(r => {
        const props = r.inputs;
        return [
            ...(rules.COMMAND_TYPES.includes(r.type) ? [...rules.checkClusterRemoval(props), ...rules.checkNoPreviousOutputInEnv(props)] : []),
            ...(rules.SSH_TYPES.includes(r.type) ? rules.checkHostKeyPinned(props) : []),
            ...(r.type === rules.TYPES.k8sProvider ? rules.checkClusterIdentifier(props) : []),
            ...(rules.HELM_TYPES.includes(r.type) ? rules.checkHelmVersionPinned(props) : []),
            ...rules.checkSecretsAreSecret(r.type, props, p => r.secretInputs.includes(p[0])),
        ].map(f => `${r.type} ${r.name}: ${f}`);
    });
}
