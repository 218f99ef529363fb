// Runs one execution of a state machine definition in aws-local-stepfunctions and reports
// it as JSON lines on stdout, for crates/local-workflow (Rust) to assert on.
//
// Protocol. stdin, first line: the job (JSON):
//   { "engine": "<path to aws-local-stepfunctions' build/main.node.esm.js>",
//     "definition": { ...placeholders already substituted... },
//     "input": <execution input>,
//     "steps": { "<Task state>": [step, ...] },   // consumed in order, one per task invocation
//     "fallback": { "<Task state>": step },        // used once a state's steps run out
//     "functions": { "<Task state>": "<function name>" },  // for "forward" steps
//     "emulator": "http://127.0.0.1:9000",         // Lambda invoke endpoint for "forward" steps
//     "wait_overrides_ms": { "<Wait state>": 0 },
//     "retry_interval_ms": 0 }                      // applied to every retrying Task state
// A step is one of
//   {"result": <json>}                          the task returns this value;
//   {"lambda_error": {"errorType", "errorMessage"}}  the function failed (as a Lambda reports it);
//   {"error": "<name>", "cause": "<text>"}       a service-level failure (e.g. Lambda.ServiceException);
//   {"forward": true}                            invoke the real function behind the emulator;
// and may carry "gate": "<label>": the runner prints {"kind":"gate","label"} and waits for one line
// on stdin before doing the step, so a test can change the world (release a lock) at that point.
//
// stdout: {"kind":"event","event":{...}} for each engine event as it happens, and finally
// {"kind":"result","status","output","error","cause","calls":[...],"harness_errors":[...]}.
// A function error is rethrown with the Lambda's errorType as its name and the error payload
// (JSON text) as its message, which is what Step Functions uses as Error and Cause.

import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const lines = createInterface({ input: process.stdin, terminal: false })[Symbol.asyncIterator]();

async function nextLine() {
  const { value, done } = await lines.next();
  if (done) {
    // The test went away: nothing left to report to.
    process.exit(3);
  }
  return value;
}

function emit(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

class TaskError extends Error {
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}

async function invokeFunction(emulator, functionName, payload) {
  const url = `${emulator}/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`;
  let response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
  } catch (error) {
    // The invoke API could not be reached: what Step Functions reports as a Lambda client error.
    throw new TaskError('Lambda.SdkClientException', `invoke ${functionName}: ${error.cause?.message ?? error.message}`);
  }
  const body = await response.text();
  const functionError = response.headers.get('x-amz-function-error');
  if (response.ok && !functionError) {
    return body.length === 0 ? null : JSON.parse(body);
  }
  let errorType = 'Lambda.Unknown';
  try {
    const parsed = JSON.parse(body);
    if (typeof parsed?.errorType === 'string' && parsed.errorType.length > 0) {
      errorType = parsed.errorType;
    }
  } catch {
    // Not JSON: keep Lambda.Unknown, as Step Functions does for an error without a type.
  }
  if (!functionError && response.status >= 500 && errorType === 'Lambda.Unknown') {
    errorType = 'Lambda.ServiceException';
  }
  throw new TaskError(errorType, body);
}

async function main() {
  const job = JSON.parse(await nextLine());
  const { StateMachine, ExecutionTimeoutError, ExecutionAbortedError } = await import(pathToFileURL(job.engine).href);

  const calls = [];
  const harnessErrors = [];
  const consumed = {};

  const handlerFor = (stateName) => async (input) => {
    const index = consumed[stateName] ?? 0;
    consumed[stateName] = index + 1;
    const step = job.steps?.[stateName]?.[index] ?? job.fallback?.[stateName];
    const call = { state: stateName, index, input };
    calls.push(call);
    if (!step) {
      const message = `no scripted step for call ${index + 1} of ${stateName}`;
      harnessErrors.push(message);
      call.outcome = { harness_error: message };
      throw new TaskError('Harness.NoStep', message);
    }
    if (step.gate) {
      emit({ kind: 'gate', label: step.gate });
      await nextLine();
    }
    try {
      let result;
      if ('result' in step) {
        result = step.result;
      } else if (step.lambda_error) {
        throw new TaskError(step.lambda_error.errorType, JSON.stringify(step.lambda_error));
      } else if (step.error) {
        throw new TaskError(step.error, step.cause ?? '');
      } else if (step.forward) {
        const functionName = job.functions?.[stateName];
        if (!functionName || !job.emulator) {
          throw new TaskError('Harness.NoFunction', `no function or emulator configured for ${stateName}`);
        }
        result = await invokeFunction(job.emulator, functionName, input);
      } else {
        throw new TaskError('Harness.BadStep', `unknown step ${JSON.stringify(step)}`);
      }
      call.outcome = { result };
      return result;
    } catch (error) {
      call.outcome = { error: error.name, cause: error.message };
      if (error.name.startsWith('Harness.')) {
        harnessErrors.push(error.message);
      }
      throw error;
    }
  };

  const taskStates = Object.entries(job.definition.States)
    .filter(([, state]) => state.Type === 'Task')
    .map(([name]) => name);
  const taskResourceLocalHandlers = Object.fromEntries(taskStates.map((name) => [name, handlerFor(name)]));
  const retryIntervalOverrides =
    job.retry_interval_ms === undefined || job.retry_interval_ms === null
      ? undefined
      : Object.fromEntries(taskStates.map((name) => [name, job.retry_interval_ms]));

  const machine = new StateMachine(job.definition);
  const execution = machine.run(job.input, {
    overrides: {
      taskResourceLocalHandlers,
      waitTimeOverrides: job.wait_overrides_ms ?? {},
      retryIntervalOverrides,
    },
  });

  let failure = null;
  const events = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'ExecutionFailed') {
        failure = { error: event.Error, cause: event.Cause };
      }
      emit({ kind: 'event', event });
    }
  })();

  let status;
  let output = null;
  try {
    output = await execution.result;
    status = 'SUCCEEDED';
  } catch (error) {
    if (error instanceof ExecutionTimeoutError) {
      status = 'TIMED_OUT';
    } else if (error instanceof ExecutionAbortedError) {
      status = 'ABORTED';
    } else {
      status = 'FAILED';
    }
  }
  await events;
  emit({
    kind: 'result',
    status,
    output,
    error: failure?.error ?? null,
    cause: typeof failure?.cause === 'string' ? failure.cause : failure?.cause === undefined ? null : JSON.stringify(failure.cause),
    calls,
    harness_errors: harnessErrors,
  });
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`run-execution: ${error.stack ?? error}\n`);
  process.exit(2);
});
