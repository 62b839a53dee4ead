//! Plans: which modules a run would run, why, and in what order.
//!
//! A module needs to run when it was never applied (setup), its declared version differs
//! from the applied one (upgrade), its declared checksum differs from the one it was
//! applied with (checksum changed), or the run is forced. Order: critical modules and what
//! they need first, parents before children, dependencies before dependents, and otherwise
//! the manifest's order. Modules with no path between them may run in parallel.
//!
//! A module with an update source also runs when its latest cached check (see
//! [`crate::updates`]) offers something its policy allows; what the policy holds back is
//! named in the step, and a module with nothing else to do is skipped as "held back".
//!
//! Each module's run rule ([`RunRule`]) decides what "nothing else to do" means: an
//! `on-change` module is then up to date (or held back), an `every-run` module runs anyway
//! (the seeds' orchestrator runs every enabled module on every run). A module whose own
//! code runs its children ([`ModuleSpec::runs_children`]) takes their place: while it is
//! in the run, its children are not steps of their own but "run by parent", and naming a
//! child alone runs it directly.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::manifest::{ChildrenRunner, Manifest, ModuleKind, ModuleSpec, Rule, RunRule};
use crate::state::ModuleState;
use crate::updates::{self, PackageUpdate, UpdateType};

mod action;

pub use action::Action;

/// What to plan for.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Modules to run (with their children, and what they need); empty means the
    /// manifest's entrypoint, or every module when it has none.
    pub targets: Vec<String>,
    /// Run selected modules even when up to date.
    pub force: bool,
    /// Apply major and breaking updates that policies would hold back.
    pub allow_breaking: bool,
    /// Only modules whose updates are of these types (a module without a source counts as
    /// `app`), with what they need; empty means every type.
    pub types: Vec<UpdateType>,
}

/// One module in a plan.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    /// Module name.
    pub name: String,
    /// `python`, `command` or `group`.
    pub kind: &'static str,
    /// Description from the manifest.
    pub description: Option<String>,
    /// What the run does with it.
    #[serde(flatten)]
    pub action: Action,
    /// Declared version.
    pub version: Option<String>,
    /// Applied version, if ever applied.
    pub applied_version: Option<String>,
    /// Whether it was ever applied.
    pub applied: bool,
    /// Declared checksum (manifest field or `checksum` file).
    pub checksum: Option<String>,
    /// What its update source's latest check offers it, when it has a source and a check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<StepUpdate>,
    /// Modules that must end well before this one starts (parents and dependencies).
    pub requires: Vec<String>,
    /// Whether it is critical or needed by a critical module (runs in the first phase).
    pub critical: bool,
    /// Depth in the children tree, for display.
    pub depth: usize,
    /// Earliest parallel wave (0-based): steps in the same wave can run together.
    pub wave: usize,
    /// Its run rule and what decided it.
    pub rule: Rule<RunRule>,
    /// For a module with children: who runs them (its own code, or upkeep), and what
    /// decided it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub children_run_by: Option<Rule<ChildrenRunner>>,
    /// Position of the module in `Manifest::modules`.
    #[serde(skip)]
    pub module_index: usize,
    /// The integrity gate's refusal, when [`Plan::gate`] was applied and a run would refuse
    /// the module before its code starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<crate::checksum::Refusal>,
    /// The refused module this one needs, when [`Plan::gate`] found one: a run blocks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
    /// How its pre-update backup would be taken, for a module that owns paths (filled by
    /// `ops::query::plan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<crate::backup::Method>,
}

/// What a module's latest update check offers it under its policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepUpdate {
    /// When the check was made (ms since the epoch).
    pub checked_ms: i64,
    /// The version it is on, as the policy saw it.
    pub current: Option<String>,
    /// The release to move to (release sources).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The packages to update (package sources).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageUpdate>,
    /// What the policy held back: version and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<(String, String)>,
}

impl StepUpdate {
    /// Whether there is anything to apply.
    pub fn has_work(&self) -> bool {
        self.target.is_some() || !self.packages.is_empty()
    }
}

/// A plan: steps in a valid execution order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    /// Steps in order.
    pub steps: Vec<Step>,
}

impl Step {
    /// The upstream update this step's run takes, if any: what the source offers and the
    /// policy allows. A first setup and an upgrade to a new declared version install what
    /// the manifest declares, so they take none; the update stays pending for a later run.
    pub fn taken_update(&self) -> Option<&StepUpdate> {
        if matches!(self.action, Action::Setup | Action::Upgrade { .. }) {
            return None;
        }
        self.update.as_ref().filter(|u| u.has_work())
    }

    /// Whether the step is a group (no code of its own, even when disabled).
    pub fn is_group(&self) -> bool {
        self.kind == ModuleKind::GROUP
    }
}

impl Plan {
    /// How many steps will run code (not counting those [`Plan::gate`] found refused or
    /// blocked).
    pub fn to_run(&self) -> usize {
        self.steps.iter().filter(|s| s.will_run()).count()
    }

    /// How many steps the integrity gate would refuse.
    pub fn refused(&self) -> usize {
        self.steps.iter().filter(|s| s.refused.is_some()).count()
    }

    /// How many steps would be blocked by a refused module they need.
    pub fn blocked(&self) -> usize {
        self.steps.iter().filter(|s| s.blocked_by.is_some()).count()
    }

    /// Apply the integrity gate ([`crate::checksum::gate`], the rule a run applies before a
    /// module's code starts) to every step that would run, hashing the folders on
    /// `threads` threads, so that the plan shows what a run would refuse and block instead
    /// of counting it as running. `approved(module, checksum)` is the file list the ledger
    /// recorded when upkeep approved that checksum.
    pub fn gate(
        &mut self,
        manifest: &Manifest,
        threads: usize,
        approved: &dyn Fn(&str, &str) -> Option<Vec<crate::integrity::FileRecord>>,
    ) {
        let guarded: Vec<(usize, std::path::PathBuf)> = self
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.action.runs())
            .filter_map(|(i, s)| Some((i, manifest.modules[s.module_index].dir.clone()?)))
            .collect();
        let dirs: Vec<std::path::PathBuf> = guarded.iter().map(|(_, d)| d.clone()).collect();
        // Only folders with a declared checksum are hashed: the gate refuses the others
        // without looking at their files.
        let declared: Vec<bool> = guarded
            .iter()
            .map(|(i, _)| self.steps[*i].checksum.is_some())
            .collect();
        let to_hash: Vec<std::path::PathBuf> = dirs
            .iter()
            .zip(&declared)
            .filter(|(_, d)| **d)
            .map(|(dir, _)| dir.clone())
            .collect();
        let mut digests = crate::integrity::digest_dirs(&to_hash, threads).into_iter();
        for ((index, dir), declared) in guarded.into_iter().zip(declared) {
            let step = &mut self.steps[index];
            let digest = if declared { digests.next() } else { None };
            let verdict = crate::checksum::gate(
                &step.name,
                &dir,
                step.checksum.as_deref(),
                || digest.expect("a declared checksum's folder was hashed"),
                |wanted| approved(&step.name, wanted),
            );
            step.refused = verdict.err().map(|refusal| *refusal);
        }
        self.block_dependents();
    }

    /// Mark the steps that need a refused or blocked step, as a run's scheduler blocks
    /// them (steps are in execution order, so requirements come first).
    fn block_dependents(&mut self) {
        let mut stopped: HashMap<String, String> = HashMap::new();
        for step in &mut self.steps {
            if step.refused.is_some() {
                stopped.insert(step.name.clone(), step.name.clone());
                continue;
            }
            let root = step.requires.iter().find_map(|r| stopped.get(r).cloned());
            if let Some(root) = root {
                stopped.insert(step.name.clone(), root.clone());
                if step.action.runs() {
                    step.blocked_by = Some(root);
                }
            }
        }
    }
}

impl Step {
    /// Whether a run would start the module's code: it runs by its action and the gate
    /// (when applied) neither refuses nor blocks it.
    pub fn will_run(&self) -> bool {
        self.action.runs() && self.refused.is_none() && self.blocked_by.is_none()
    }
}

/// Planning errors: bad targets.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A target names no module.
    #[error("select module `{name}`: no module has that name")]
    UnknownTarget {
        /// The target as given.
        name: String,
        /// The closest module name.
        suggestion: Option<String>,
    },
}

/// Build the plan for `manifest` given what the ledger knows.
///
/// # Errors
/// [`PlanError::UnknownTarget`] when a target names no module.
#[expect(
    clippy::implicit_hasher,
    reason = "module states always come from the ledger's default map"
)]
pub fn plan(
    manifest: &Manifest,
    states: &HashMap<String, ModuleState>,
    options: &PlanOptions,
) -> Result<Plan, PlanError> {
    let graph = Graph::new(manifest);
    let Some(selected) = graph.select_typed(manifest, options)? else {
        return Ok(Plan { steps: Vec::new() });
    };
    let critical = graph.critical_closure(manifest, &selected);
    let order = graph.order(&selected, &critical);
    let disabled = graph.disabled_ancestors(manifest);
    let mut waves: HashMap<usize, usize> = HashMap::new();
    let mut steps = Vec::with_capacity(order.len());
    for index in order {
        let spec = &manifest.modules[index];
        let requires = graph.requires_among(index, &selected);
        let wave = wave_after(&requires, &waves);
        waves.insert(index, wave);
        let state = states.get(&spec.name);
        let checksum = spec.declared_checksum();
        let update = upstream(spec, state, options.allow_breaking);
        let action = match graph.runner(manifest, index, &selected) {
            Some(parent) if spec.enabled && disabled[index].is_none() => parent,
            _ => with_update(
                action(
                    spec,
                    state,
                    checksum.as_deref(),
                    disabled[index].as_deref(),
                    options.force,
                ),
                update.as_ref(),
                spec.run.value,
            ),
        };
        steps.push(Step {
            name: spec.name.clone(),
            kind: spec.kind.label(),
            description: spec.description.clone(),
            action,
            version: spec.version.as_ref().map(ToString::to_string),
            applied_version: state.and_then(|s| s.applied_version.clone()),
            applied: state.is_some_and(ModuleState::applied),
            checksum,
            update,
            requires: requires
                .iter()
                .map(|&r| manifest.modules[r].name.clone())
                .collect(),
            critical: critical.contains(&index),
            depth: graph.depth(index),
            wave,
            rule: spec.run.clone(),
            children_run_by: spec.children_runner(),
            module_index: index,
            refused: None,
            blocked_by: None,
            backup: None,
        });
    }
    Ok(Plan { steps })
}

impl Graph {
    /// What module `index` requires, among the `selected` modules.
    fn requires_among(&self, index: usize, selected: &HashSet<usize>) -> Vec<usize> {
        self.requires[index]
            .iter()
            .copied()
            .filter(|r| selected.contains(r))
            .collect()
    }
}

/// The earliest wave after those of `requires`.
fn wave_after(requires: &[usize], waves: &HashMap<usize, usize>) -> usize {
    requires
        .iter()
        .filter_map(|r| waves.get(r))
        .map(|w| w + 1)
        .max()
        .unwrap_or(0)
}

/// The type of a module's updates: its source's, else `app`.
pub fn update_type(spec: &ModuleSpec) -> UpdateType {
    spec.source
        .as_ref()
        .map_or(UpdateType::App, |s| s.update_type)
}

/// What `spec`'s latest check offers under its policy; `None` without a source or a check.
/// The current version is [`updates::current_version`]'s. Packages are offered until a run applies
/// them: a successful update records the check it came from, and that check's packages
/// are not offered again.
fn upstream(
    spec: &ModuleSpec,
    state: Option<&ModuleState>,
    allow_breaking: bool,
) -> Option<StepUpdate> {
    let source = spec.source.as_ref()?;
    let state = state?;
    let (checked_ms, finding) = state.check.as_ref()?;
    let finding = &updates::Finding::from_json(finding);
    let current = updates::current_version(state.upstream_version.clone(), finding, spec)
        .map(|(version, _)| version);
    let mut update = StepUpdate {
        checked_ms: *checked_ms,
        current: current.clone(),
        target: None,
        packages: Vec::new(),
        held: Vec::new(),
    };
    if source.kind.lists_packages() {
        if state
            .upstream_check_ms
            .is_some_and(|applied| applied >= *checked_ms)
        {
            return Some(update);
        }
        let ecosystem = updates::Ecosystem::of(&source.kind)?;
        let decision =
            updates::decide_packages(&finding.packages, ecosystem, &spec.policy, allow_breaking);
        update.packages = decision.allowed;
        update.held = decision
            .held
            .into_iter()
            .map(|(p, reason)| (format!("{} {}", p.name, p.available), reason.describe()))
            .collect();
    } else {
        let decision = updates::decide(
            current.as_deref(),
            &finding.releases,
            &spec.policy,
            allow_breaking,
        );
        update.target = decision.target.map(|r| r.version);
        update.held = decision
            .held
            .into_iter()
            .map(|h| (h.version, h.reason.describe()))
            .collect();
    }
    Some(update)
}

/// A module that is otherwise up to date runs for an allowed update, or is skipped as held
/// back when its source only offers what the policy holds; under `every-run` it runs
/// anyway, saying what is held.
fn with_update(action: Action, update: Option<&StepUpdate>, rule: RunRule) -> Action {
    let every_run = |held_back| match (rule, &action) {
        (RunRule::EveryRun, Action::UpToDate) => Action::EveryRun { held_back },
        _ => action.clone(),
    };
    let Some(update) = update else {
        return every_run(None);
    };
    if !matches!(action, Action::UpToDate | Action::CheckFiles) {
        return action;
    }
    if update.has_work() {
        let to = update
            .target
            .clone()
            .unwrap_or_else(|| match update.packages.len() {
                1 => "1 package".to_owned(),
                n => format!("{n} packages"),
            });
        return Action::Update { to };
    }
    match (update.held.first(), &action, rule) {
        (Some((version, reason)), Action::UpToDate, RunRule::EveryRun) => {
            every_run(Some(format!("{version}: {reason}")))
        }
        (Some((version, reason)), Action::UpToDate, RunRule::OnChange) => Action::HeldBack {
            version: version.clone(),
            reason: reason.clone(),
        },
        _ => every_run(None),
    }
}

fn action(
    spec: &ModuleSpec,
    state: Option<&ModuleState>,
    checksum: Option<&str>,
    disabled_parent: Option<&str>,
    force: bool,
) -> Action {
    if !spec.enabled {
        return Action::Disabled;
    }
    if let Some(parent) = disabled_parent {
        return Action::ParentDisabled {
            parent: parent.to_owned(),
        };
    }
    if matches!(spec.kind, ModuleKind::Group) {
        return Action::Group;
    }
    let Some(state) = state.filter(|s| s.applied()) else {
        return Action::Setup;
    };
    let declared = spec.version.as_ref().map(ToString::to_string);
    if declared != state.applied_version {
        return Action::Upgrade {
            from: state.applied_version.clone(),
            to: declared,
        };
    }
    if checksum.is_some() && checksum != state.applied_checksum.as_deref() {
        return Action::ChecksumChanged;
    }
    if force {
        Action::Forced
    } else if matches!(spec.kind, ModuleKind::Files { .. }) {
        Action::CheckFiles
    } else {
        Action::UpToDate
    }
}

/// Memoized "first disabled ancestor" per module.
struct Memo {
    known: Vec<bool>,
    value: Vec<Option<String>>,
}

/// The module graph by index: parents and dependencies of every module.
struct Graph {
    index: HashMap<String, usize>,
    /// Parents and dependencies of each module.
    requires: Vec<Vec<usize>>,
    /// Children of each module.
    children: Vec<Vec<usize>>,
    /// Parents only, for depth and disabled propagation.
    parents: Vec<Vec<usize>>,
    /// Parents whose code runs this module (see [`ModuleSpec::runs_own_children`]).
    runners: Vec<Vec<usize>>,
}

impl Graph {
    fn new(manifest: &Manifest) -> Self {
        let index: HashMap<String, usize> = manifest
            .names()
            .enumerate()
            .map(|(i, n)| (n.to_owned(), i))
            .collect();
        let n = manifest.modules.len();
        let (mut requires, mut children, mut parents) = (
            vec![Vec::new(); n],
            vec![Vec::new(); n],
            vec![Vec::new(); n],
        );
        let mut runners = vec![Vec::new(); n];
        for (i, spec) in manifest.modules.iter().enumerate() {
            for child in spec.children.iter().filter_map(|c| index.get(c)) {
                children[i].push(*child);
                parents[*child].push(i);
                requires[*child].push(i);
                if spec.runs_own_children() {
                    runners[*child].push(i);
                }
            }
        }
        // Depending on a group means running after all of its children ended well (and so
        // being blocked by any of them): the dependency brings its descendants along.
        for (i, spec) in manifest.modules.iter().enumerate() {
            for &dep in spec.depends_on.iter().filter_map(|d| index.get(d)) {
                requires[i].push(dep);
                let mut stack = children[dep].clone();
                while let Some(node) = stack.pop() {
                    if node != i && !requires[i].contains(&node) {
                        requires[i].push(node);
                        stack.extend(&children[node]);
                    }
                }
            }
        }
        for list in &mut requires {
            list.sort_unstable();
            list.dedup();
        }
        Self {
            index,
            requires,
            children,
            parents,
            runners,
        }
    }

    /// [`Action::RunByParent`] when a parent in the run (`selected`) runs `node` with its
    /// own code.
    fn runner(
        &self,
        manifest: &Manifest,
        node: usize,
        selected: &HashSet<usize>,
    ) -> Option<Action> {
        let parent = self.runners[node]
            .iter()
            .copied()
            .find(|p| selected.contains(p))?;
        let origin = manifest.modules[parent].runs_children.origin.clone();
        Some(Action::RunByParent {
            parent: manifest.modules[parent].name.clone(),
            reason: origin.describe(),
            origin,
        })
    }

    /// Targets with their descendants, closed over what they require.
    fn select(&self, manifest: &Manifest, targets: &[String]) -> Result<HashSet<usize>, PlanError> {
        let roots: Vec<usize> = if targets.is_empty() {
            match manifest.entrypoint.as_ref().and_then(|e| self.index.get(e)) {
                Some(&entry) => vec![entry],
                None => (0..manifest.modules.len()).collect(),
            }
        } else {
            targets
                .iter()
                .map(|t| {
                    self.index
                        .get(t)
                        .copied()
                        .ok_or_else(|| PlanError::UnknownTarget {
                            name: t.clone(),
                            suggestion: crate::text::suggest(t, manifest.names()),
                        })
                })
                .collect::<Result<_, _>>()?
        };
        let mut selected = HashSet::new();
        let mut stack = roots;
        while let Some(node) = stack.pop() {
            if selected.insert(node) {
                stack.extend(&self.children[node]);
            }
        }
        // A parent whose code runs a module is not what the module needs: naming the child
        // alone runs it directly, without its parent (which would run it a second time).
        let mut stack: Vec<usize> = selected.iter().copied().collect();
        while let Some(node) = stack.pop() {
            for &req in &self.requires[node] {
                if !self.runners[node].contains(&req) && selected.insert(req) {
                    stack.push(req);
                }
            }
        }
        Ok(selected)
    }

    /// The selection narrowed to modules of `options.types` and what they need; `None`
    /// when no selected module has one of those types.
    fn select_typed(
        &self,
        manifest: &Manifest,
        options: &PlanOptions,
    ) -> Result<Option<HashSet<usize>>, PlanError> {
        let selected = self.select(manifest, &options.targets)?;
        if options.types.is_empty() {
            return Ok(Some(selected));
        }
        let typed: Vec<String> = manifest
            .modules
            .iter()
            .enumerate()
            .filter(|(i, spec)| selected.contains(i) && options.types.contains(&update_type(spec)))
            .map(|(_, spec)| spec.name.clone())
            .collect();
        if typed.is_empty() {
            return Ok(None);
        }
        self.select(manifest, &typed).map(Some)
    }

    fn critical_closure(&self, manifest: &Manifest, selected: &HashSet<usize>) -> HashSet<usize> {
        let mut closure = HashSet::new();
        let mut stack: Vec<usize> = selected
            .iter()
            .copied()
            .filter(|&i| manifest.modules[i].critical)
            .collect();
        while let Some(node) = stack.pop() {
            if closure.insert(node) {
                stack.extend(self.requires[node].iter().filter(|r| selected.contains(r)));
            }
        }
        closure
    }

    /// Kahn's algorithm, always taking the ready module that is critical first and then
    /// earliest in the manifest, so the order is stable and readable.
    fn order(&self, selected: &HashSet<usize>, critical: &HashSet<usize>) -> Vec<usize> {
        let mut pending: HashMap<usize, usize> = selected
            .iter()
            .map(|&i| {
                (
                    i,
                    self.requires[i]
                        .iter()
                        .filter(|r| selected.contains(r))
                        .count(),
                )
            })
            .collect();
        let key = |i: usize| (!critical.contains(&i), i);
        let mut ready: BTreeSet<(bool, usize)> = pending
            .iter()
            .filter(|(_, c)| **c == 0)
            .map(|(&i, _)| key(i))
            .collect();
        let mut dependents: HashMap<usize, Vec<usize>> = HashMap::new();
        for &i in selected {
            for &r in self.requires[i].iter().filter(|r| selected.contains(r)) {
                dependents.entry(r).or_default().push(i);
            }
        }
        let mut order = Vec::with_capacity(selected.len());
        while let Some(first) = ready.pop_first() {
            let node = first.1;
            order.push(node);
            for &d in dependents.get(&node).map_or(&[][..], Vec::as_slice) {
                let count = pending.get_mut(&d).expect("dependent is selected");
                *count -= 1;
                if *count == 0 {
                    ready.insert(key(d));
                }
            }
        }
        order
    }

    fn disabled_ancestors(&self, manifest: &Manifest) -> Vec<Option<String>> {
        let mut memo = Memo {
            known: vec![false; manifest.modules.len()],
            value: vec![None; manifest.modules.len()],
        };
        (0..manifest.modules.len())
            .map(|i| self.disabled_ancestor(manifest, i, &mut memo))
            .collect()
    }

    fn disabled_ancestor(
        &self,
        manifest: &Manifest,
        node: usize,
        memo: &mut Memo,
    ) -> Option<String> {
        if memo.known[node] {
            return memo.value[node].clone();
        }
        let mut found = None;
        for &parent in &self.parents[node] {
            found = if manifest.modules[parent].enabled {
                self.disabled_ancestor(manifest, parent, memo)
            } else {
                Some(manifest.modules[parent].name.clone())
            };
            if found.is_some() {
                break;
            }
        }
        memo.known[node] = true;
        memo.value[node].clone_from(&found);
        found
    }

    fn depth(&self, node: usize) -> usize {
        let mut depth = 0;
        let mut current = node;
        while let Some(&parent) = self.parents[current].first() {
            depth += 1;
            current = parent;
            if depth > self.parents.len() {
                break;
            }
        }
        depth
    }
}
