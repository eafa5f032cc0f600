// One line per step of a browser test, numbered, timed, `ok` or `not ok` (TAP's shape), shared by
// the dashboard's and the app's scripts.

let stepNo = 0;

/** Runs `body`, prints how it went with what it answers, and answers it; rethrows a failure. */
export async function step(name, body) {
  stepNo += 1;
  const started = Date.now();
  try {
    const note = await body();
    console.log(`ok ${stepNo} - ${name} (${Date.now() - started} ms)${note ? `: ${note}` : ''}`);
    return note;
  } catch (error) {
    console.log(`not ok ${stepNo} - ${name}`);
    throw error;
  }
}
