export { boot, type BootOptions, type Runtime } from "./boot";
export { getRuntime, setRuntime } from "./global";
export { checkReadiness, type Readiness } from "./health";
