import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { chooseInterpreter } from './interpreter';

export const TASK_TYPE = 'gradwatch-run';

/**
 * Loads the bundled gradwatch (ahead of any installed one) and runs `gradwatch run` with the remaining
 * arguments. The bundle folder goes to the *end* of sys.path once gradwatch is imported: the user's program
 * must see its own packages (attrs, typing_extensions ...), not the server's copies, as `python file.py` would.
 */
const BOOTSTRAP = [
  'import sys',
  'libs = sys.argv.pop(1)',
  'sys.path.insert(0, libs)',
  'import gradwatch.runtime.main as gradwatch_run',
  'sys.path.remove(libs)',
  'sys.path.append(libs)',
  'sys.exit(gradwatch_run.main())',
].join('; ');

/** The command line: `python -c BOOTSTRAP LIBS -- FILE` (no shell: a path with spaces or quotes is one argument). */
export function sentinelArguments(libs: string, file: string): string[] {
  return ['-c', BOOTSTRAP, libs, '--', file];
}

/**
 * gradwatch: Run File with Autograd Sentinel. Runs the active Python file under `gradwatch run` with the
 * selected interpreter, in a task terminal (its output stays there); `gradwatch run` writes its findings to
 * .gradwatch_cache/runtime.json, which the server watches and shows on the lines they name.
 * Only in a trusted workspace: it executes the workspace's code.
 */
/**
 * Where `gradwatch run` writes the findings of a run of `file`: `.gradwatch_cache/runtime.json` in the
 * folder of the nearest pyproject.toml above it, else in the file's own folder (as gradwatch's runtime report does).
 */
export function runtimeFindingsPath(file: string): string {
  let folder = path.dirname(file);
  for (;;) {
    if (fs.existsSync(path.join(folder, 'pyproject.toml'))) {
      return path.join(folder, '.gradwatch_cache', 'runtime.json');
    }
    const parent = path.dirname(folder);
    if (parent === folder) {
      return path.join(path.dirname(file), '.gradwatch_cache', 'runtime.json');
    }
    folder = parent;
  }
}

/**
 * `written` is told where the run's findings went once the run ends: file watching (which the server also
 * asks for) may miss the change, and nothing else would make the server read them before the next edit.
 */
export async function runFileWithSentinel(
  extensionPath: string,
  output: vscode.LogOutputChannel,
  written: (runtimeFindings: string) => void,
): Promise<void> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('gradwatch: running a file needs a trusted workspace.');
    return;
  }
  const document = vscode.window.activeTextEditor?.document;
  if (!document || document.languageId !== 'python') {
    void vscode.window.showInformationMessage('gradwatch: open a Python file to run it with the autograd sentinel.');
    return;
  }
  if (document.uri.scheme !== 'file') {
    void vscode.window.showInformationMessage('gradwatch: save the file first; only files on disk can be run.');
    return;
  }
  // The run must see the text the editor shows, and the server compares its findings with that text.
  if (document.isDirty && !(await document.save())) {
    void vscode.window.showWarningMessage('gradwatch: the file could not be saved, so it was not run.');
    return;
  }
  const file = document.uri.fsPath;
  const folder = vscode.workspace.getWorkspaceFolder(document.uri);
  const choice = await chooseInterpreter(folder, true);
  const libs = path.join(extensionPath, 'bundled', 'libs');
  const args = sentinelArguments(libs, file);
  output.info(`running ${file} under the autograd sentinel with ${choice.command} (from ${choice.source})`);

  const execution = new vscode.ProcessExecution(choice.command, args, {
    cwd: folder?.uri.fsPath ?? path.dirname(file),
    env: { PYTHONUNBUFFERED: '1' },
  });
  const task = new vscode.Task(
    { type: TASK_TYPE, file },
    folder ?? vscode.TaskScope.Workspace,
    `${path.basename(file)} with the autograd sentinel`,
    'gradwatch',
    execution,
    [],
  );
  task.presentationOptions = {
    reveal: vscode.TaskRevealKind.Always,
    panel: vscode.TaskPanelKind.Dedicated,
    clear: true,
    focus: false,
    echo: false,
  };
  const ended = vscode.tasks.onDidEndTaskProcess((event) => {
    if (event.execution.task.definition.type === TASK_TYPE && event.execution.task.definition.file === file) {
      ended.dispose();
      output.info(`gradwatch run of ${file} ended with exit code ${event.exitCode ?? 'unknown'}`);
      written(runtimeFindingsPath(file));
    }
  });
  try {
    await vscode.tasks.executeTask(task);
  } catch (error) {
    ended.dispose();
    const message = error instanceof Error ? error.message : String(error);
    output.error(`could not run ${file}: ${message}`);
    void vscode.window.showErrorMessage(`gradwatch: could not run ${path.basename(file)}: ${message}`);
  }
}
