// Validate AnalysisTemplates (JSON array on stdin) with @kubernetes-models/argo-rollouts (its JSON schema).
// usage: node validate_argo.js NODE_MODULES_DIR < templates.json
const { AnalysisTemplate } = require(process.argv[2] + "/@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate");
const docs = JSON.parse(require("fs").readFileSync(0, "utf8"));
for (const d of docs) { try { new AnalysisTemplate(d).validate(); console.log("ok", d.metadata.name); } catch (e) { console.log("invalid", d.metadata.name, e.message); process.exitCode = 1; } }
