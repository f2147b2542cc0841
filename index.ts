// rancher-ha: reads the stack config and wires the stages. No logic lives here.
import { loadConfig, nodeSummary } from "./components/config";

const settings = loadConfig();

export const nodes = nodeSummary(settings.nodes);
