// ID-EA Train's seed must stay as the user set it: the same seed resumes a stopped training. The frontend gives
// every INT input named "seed" a "control after generate" widget that starts at "randomize", and its node
// definition cannot name another start value. So a new ID-EA Train node starts at "fixed" here; a node loaded
// from a workflow then takes the saved value, which the frontend applies after this hook.
import { app } from "../../scripts/app.js";

app.registerExtension({
  name: "comfyui-faceclip.IDEATrain.fixedSeed",
  nodeCreated(node) {
    if (node.comfyClass !== "IDEATrain") return;
    const seed = node.widgets?.find((w) => w.name === "seed");
    const control = seed?.linkedWidgets?.[0] ?? node.widgets?.find((w) => w.name === "control_after_generate");
    if (control) control.value = "fixed";
  },
});
