//! Per-object Rego rules on regorus's bytecode VM (RVM), with the interpreter's decisions.
//!
//! regorus 0.14's VM is several times faster than its interpreter, but it does not fail the
//! same way: an error inside a rule body (a strict builtin error, a type error in arithmetic
//! or an ordering comparison) only makes that body fail, and conflicting values of a complete
//! rule or function make it undefined, where the interpreter fails the whole evaluation (so
//! the policy yields an `error` decision, which blocks under `deny`). The VM is therefore used
//! only where such a silent failure is either impossible or detected:
//!
//! - **At load**, each policy's rules are compiled on their own and the bytecode audited
//!   ([`obstacle`]): arithmetic and ordering instructions (their type errors would be
//!   swallowed), partial object rules (key conflicts), complete rules and functions that can
//!   yield two values (several definitions, or iteration in a body, unless every value is the
//!   same constant), host calls and non-Rego instructions leave that policy to the
//!   interpreter (logged at debug). So does anything the VM's compiler refuses (`with`).
//! - **Per object**, every builtin the VM calls goes through a wrapper that records an error
//!   ([`BUILTIN_FAILED`]); when one erred, or the VM fails, the object is interpreted again,
//!   so the decision (and the error's text) is the interpreter's.
//! - A time-out is fatal on the VM as in the interpreter; the object is then interpreted rule
//!   by rule, so the error names its policy.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use regorus::rvm::instructions::LoopMode;
use regorus::rvm::program::{Program, RuleType};
use regorus::rvm::vm::VmError;
use regorus::rvm::{Instruction, RegoVM};
use regorus::unstable::{BuiltinFcn, Expr, Ref, Span};
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};

/// Why the VM would not decide as the interpreter on this program; `None` when it would
/// (builtin errors aside, which are detected per object).
pub(crate) fn obstacle(program: &Program) -> Option<String> {
    if program.has_host_await {
        return Some("host calls".into());
    }
    for instruction in &program.instructions {
        let what = match instruction {
            Instruction::Add { .. }
            | Instruction::Sub { .. }
            | Instruction::Mul { .. }
            | Instruction::Div { .. }
            | Instruction::Mod { .. } => "arithmetic (a type error or a division by zero would be swallowed)",
            Instruction::Lt { .. }
            | Instruction::Le { .. }
            | Instruction::Gt { .. }
            | Instruction::Ge { .. } => "an ordering comparison (a type error would be swallowed)",
            Instruction::And { .. } | Instruction::Or { .. } => {
                "a boolean operator on values that may not be booleans"
            }
            Instruction::HostAwait { .. } => "host calls",
            Instruction::PolicyCondition { .. }
            | Instruction::LogicalBlockStart { .. }
            | Instruction::AllOfNext { .. }
            | Instruction::AnyOfNext { .. }
            | Instruction::LogicalBlockEnd { .. } => "instructions of another policy language",
            _ => continue,
        };
        return Some(what.into());
    }
    for rule in &program.rule_infos {
        let complete = match rule.rule_type {
            RuleType::PartialSet => false,
            RuleType::PartialObject => {
                return Some(format!(
                    "partial object rule {} (a key conflict would be swallowed)",
                    rule.name
                ));
            }
            RuleType::Complete => true,
        };
        if !(complete || rule.function_info.is_some()) || rule.early_exit_on_first_success {
            continue;
        }
        // A complete rule or function yields one value: the VM takes the first body that
        // succeeds where the interpreter checks that all agree. Allowed only when no two
        // values can be produced: one definition, `else` bodies after the first, no iteration.
        let conflict = || Some(format!("{} can yield two values (a conflict would be swallowed)", rule.name));
        if rule.definitions.len() > 1 {
            return conflict();
        }
        for (d, bodies) in rule.definitions.iter().enumerate() {
            let elses = rule.else_bodies.get(d);
            for (b, &entry) in bodies.iter().enumerate() {
                let is_else = elses.and_then(|e| e.get(b)).copied().unwrap_or(false);
                if b > 0 && !is_else {
                    return conflict();
                }
                // Found by tests/vm.rs: `f(x) := a if { ... } else := <a rule's field>` is
                // undefined on the VM where the interpreter takes the `else` value.
                if b > 0 && rule.function_info.is_some() {
                    return Some(format!(
                        "function {} has `else` bodies (the VM evaluates them differently)",
                        rule.name
                    ));
                }
                if body_iterates(program, entry) {
                    return conflict();
                }
            }
        }
    }
    None
}

/// Whether the body starting at `entry` (laid out up to its `RuleReturn`) iterates with
/// `some`: each iteration may yield a value.
fn body_iterates(program: &Program, entry: u32) -> bool {
    let start = usize::try_from(entry).unwrap_or(usize::MAX);
    for instruction in program.instructions.iter().skip(start) {
        match instruction {
            Instruction::RuleReturn {} | Instruction::Return { .. } | Instruction::Halt {} => return false,
            Instruction::LoopStart { params_index } => {
                let mode = program.instruction_data.get_loop_params(*params_index).map(|p| p.mode);
                if !matches!(mode, Some(LoopMode::Every)) {
                    return true;
                }
            }
            _ => {}
        }
    }
    // No end found: assume the worst.
    true
}

/// Compiles `rule` (a rule of `engine`) to VM bytecode.
pub(crate) fn compile(engine: &Engine, rule: &str) -> Result<Program, String> {
    // Compiling prepares the engine for that entry point: do it on a copy.
    let mut copy = engine.clone();
    let entry: regorus::Rc<str> = regorus::Rc::from(rule);
    let policy = copy.compile_with_entrypoint(&entry).map_err(|e| e.to_string())?;
    let program = regorus::languages::rego::compiler::Compiler::compile_from_policy(&policy, &[rule])
        .map_err(|e| e.to_string())?;
    Ok(Program::clone(&program))
}

/// A program whose per-object rules run on the VM, with builtins that report their errors.
#[derive(Clone)]
pub(crate) struct VmProgram {
    program: Arc<Program>,
    data: Value,
    timer: ExecutionTimerConfig,
}

impl std::fmt::Debug for VmProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmProgram").field("instructions", &self.program.instructions.len()).finish()
    }
}

/// What one run of the VM on one object gave.
pub(crate) enum VmRun {
    /// The batch's value: nothing failed, no builtin erred.
    Value(Value),
    /// The time limit was reached.
    TimedOut,
    /// Something failed or a builtin erred: the interpreter must judge this object.
    Interpret,
}

impl VmProgram {
    /// Makes `program` report builtin errors; `None` when one of its builtins cannot be
    /// wrapped (then the caller interprets).
    pub(crate) fn new(
        mut program: Program,
        data: Value,
        timer: ExecutionTimerConfig,
    ) -> Result<Self, String> {
        if !program.has_resolved_builtins() {
            program.initialize_resolved_builtins().map_err(|e| e.to_string())?;
        }
        let names: Vec<String> = program.builtin_info_table.iter().map(|b| b.name.clone()).collect();
        for (slot_fn, name) in program.resolved_builtins.iter_mut().zip(&names) {
            let slot =
                register(name, slot_fn.0).ok_or_else(|| format!("too many builtins to watch ({name})"))?;
            let wrapper = WRAPPERS.get(slot).ok_or_else(|| format!("no wrapper for builtin {name}"))?;
            slot_fn.0 = *wrapper;
        }
        Ok(Self { program: Arc::new(program), data, timer })
    }

    /// A VM ready to run the program (one per thread: it holds evaluation state); `None`
    /// when the data does not fit the program (then the caller interprets).
    pub(crate) fn vm(&self) -> Option<RegoVM> {
        let mut vm = RegoVM::new();
        vm.load_program(self.program.clone());
        vm.set_data(self.data.clone()).ok()?;
        // As the interpreter: builtin errors are errors, time is the only limit.
        vm.set_strict_builtin_errors(true);
        vm.set_max_instructions(usize::MAX);
        vm.set_execution_timer_config(Some(self.timer));
        Some(vm)
    }

    /// Runs the program on `input`.
    pub(crate) fn run(vm: &mut RegoVM, input: Value) -> VmRun {
        BUILTIN_FAILED.with(|f| f.set(false));
        vm.set_input(input);
        let result = vm.execute();
        // Free the input now rather than at the next object.
        vm.set_input(Value::Undefined);
        let builtin_failed = BUILTIN_FAILED.with(|f| f.replace(false));
        match result {
            Ok(value) if !builtin_failed => VmRun::Value(value),
            Ok(_) => {
                tracing::debug!("a builtin failed on the VM; interpreting the object");
                VmRun::Interpret
            }
            Err(VmError::TimeLimitExceeded { .. }) => VmRun::TimedOut,
            Err(e) => {
                tracing::debug!(error = %e, "the VM failed on an object; interpreting it");
                VmRun::Interpret
            }
        }
    }
}

type BuiltinFn = fn(&Span, &[Ref<Expr>], &[Value], bool) -> anyhow::Result<Value>;

thread_local! {
    /// Set by a wrapped builtin that returned an error during the current run.
    static BUILTIN_FAILED: Cell<bool> = const { Cell::new(false) };
}

/// How many distinct builtins can be watched (regorus has fewer).
const SLOTS: usize = 256;

/// The original of each watched builtin, by slot; a slot is given to one builtin name for the
/// life of the process (the builtins are regorus's, the same for every program).
static ORIGINALS: [OnceLock<BuiltinFn>; SLOTS] = [const { OnceLock::new() }; SLOTS];
static NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The slot of builtin `name`, registering `original` there the first time.
fn register(name: &str, original: BuiltinFn) -> Option<usize> {
    let mut names = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let slot = match names.iter().position(|n| n == name) {
        Some(slot) => slot,
        None if names.len() < SLOTS => {
            names.push(name.to_owned());
            names.len() - 1
        }
        None => return None,
    };
    // Names are regorus's builtins, one function each, the same in every program.
    ORIGINALS.get(slot)?.get_or_init(|| original);
    if let Some(i) = crate::builtins::GUARDED.iter().position(|(guarded, _)| *guarded == name) {
        GUARDED_SLOTS[i].store(slot, Ordering::Relaxed);
    }
    Some(slot)
}

/// The slots of the builtins checked before they run ([`crate::builtins::GUARDED`], in its
/// order); `usize::MAX` until registered.
static GUARDED_SLOTS: [AtomicUsize; crate::builtins::GUARDED.len()] =
    [const { AtomicUsize::new(usize::MAX) }; crate::builtins::GUARDED.len()];

fn wrapped<const HI: usize, const LO: usize>(
    span: &Span,
    params: &[Ref<Expr>],
    args: &[Value],
    strict: bool,
) -> anyhow::Result<Value> {
    let slot = HI * 16 + LO;
    let refusal = GUARDED_SLOTS
        .iter()
        .position(|guarded| guarded.load(Ordering::Relaxed) == slot)
        .and_then(|i| crate::builtins::refusal(crate::builtins::GUARDED[i].0, args));
    let result = match (refusal, ORIGINALS[slot].get()) {
        (Some(refusal), _) => Err(anyhow::anyhow!(refusal)),
        (None, Some(original)) => original(span, params, args, strict),
        (None, None) => Err(anyhow::anyhow!("driftless: builtin slot {slot} is empty")),
    };
    if result.is_err() {
        BUILTIN_FAILED.with(|f| f.set(true));
    }
    result
}

macro_rules! row {
    ($hi:literal) => {
        [
            wrapped::<$hi, 0> as BuiltinFn,
            wrapped::<$hi, 1>,
            wrapped::<$hi, 2>,
            wrapped::<$hi, 3>,
            wrapped::<$hi, 4>,
            wrapped::<$hi, 5>,
            wrapped::<$hi, 6>,
            wrapped::<$hi, 7>,
            wrapped::<$hi, 8>,
            wrapped::<$hi, 9>,
            wrapped::<$hi, 10>,
            wrapped::<$hi, 11>,
            wrapped::<$hi, 12>,
            wrapped::<$hi, 13>,
            wrapped::<$hi, 14>,
            wrapped::<$hi, 15>,
        ]
    };
}

/// One wrapper per slot: builtins are plain function pointers, so each wrapper finds its
/// original by its own constant slot.
static WRAPPERS: [BuiltinFn; SLOTS] = {
    let rows: [[BuiltinFn; 16]; 16] = [
        row!(0),
        row!(1),
        row!(2),
        row!(3),
        row!(4),
        row!(5),
        row!(6),
        row!(7),
        row!(8),
        row!(9),
        row!(10),
        row!(11),
        row!(12),
        row!(13),
        row!(14),
        row!(15),
    ];
    let mut out: [BuiltinFn; SLOTS] = [wrapped::<0, 0>; SLOTS];
    let mut i = 0;
    while i < SLOTS {
        out[i] = rows[i / 16][i % 16];
        i += 1;
    }
    out
};

/// Keeps `BuiltinFcn` (regorus's pair of function and arity) in sync with [`BuiltinFn`].
const _: fn(BuiltinFcn) -> BuiltinFn = |b| b.0;

/// The time limit as regorus's timer setting, checked every 64 steps.
pub(crate) fn timer(timeout: Duration) -> ExecutionTimerConfig {
    ExecutionTimerConfig { limit: timeout, check_interval: std::num::NonZeroU32::MIN.saturating_add(63) }
}
