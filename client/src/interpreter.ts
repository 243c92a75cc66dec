import { spawn } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import type { PythonExtension } from '@vscode/python-extension';

export const MINIMUM_PYTHON: readonly [number, number] = [3, 10];
const PYTHON_EXTENSION_ID = 'ms-python.python';
const FALLBACK_PYTHON = 'python3';

export type InterpreterSource = 'setting' | 'user setting' | 'Python extension' | 'default';

export interface InterpreterChoice {
  command: string;
  source: InterpreterSource;
  /** Set in Restricted Mode when a workspace-supplied interpreter was skipped; shown to the user. */
  restrictedNote?: string;
}

export interface PythonVersionCheck {
  ok: boolean;
  version?: string;
  /** The interpreter's sys.executable: what a bare `python3` (or a pyenv shim) really runs. */
  executable?: string;
  problem?: string;
}

type PythonApi = Awaited<ReturnType<typeof PythonExtension.api>>;

/**
 * The Python extension is optional: we never list it in extensionDependencies, so every call through it
 * is guarded and its absence (or failure) just moves us to the next fallback.
 */
export async function pythonExtensionApi(): Promise<PythonApi | undefined> {
  if (!vscode.extensions.getExtension(PYTHON_EXTENSION_ID)) {
    return undefined;
  }
  try {
    // Loaded lazily so the bundle works even where the Python extension never appears.
    const { PythonExtension } = await import('@vscode/python-extension');
    return await PythonExtension.api();
  } catch {
    return undefined;
  }
}

function expandVariables(value: string, folder: vscode.WorkspaceFolder | undefined): string {
  let expanded = value.trim();
  if (expanded.startsWith('~')) {
    expanded = path.join(os.homedir(), expanded.slice(1));
  }
  if (folder) {
    expanded = expanded.replace(/\$\{workspaceFolder\}/g, folder.uri.fsPath);
    // `.venv/bin/python` means the folder's venv; a bare name like `python3` is looked up on PATH.
    if (/[\/\\]/.test(expanded) && !path.isAbsolute(expanded)) {
      expanded = path.resolve(folder.uri.fsPath, expanded);
    }
  }
  return expanded;
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

function insideAnyWorkspaceFolder(file: string): boolean {
  return (vscode.workspace.workspaceFolders ?? []).some((folder) => isInside(file, folder.uri.fsPath));
}

async function pythonExtensionInterpreter(folder: vscode.WorkspaceFolder | undefined): Promise<string | undefined> {
  const api = await pythonExtensionApi();
  if (!api) {
    return undefined;
  }
  try {
    const active = api.environments.getActiveEnvironmentPath(folder?.uri);
    const resolved = await api.environments.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath;
  } catch {
    return undefined;
  }
}

/**
 * Picks the Python that will run the server: the gradwatch.interpreter setting, else the Python extension's
 * active environment for the folder, else python3. In Restricted Mode nothing the workspace supplies is run.
 */
export async function chooseInterpreter(
  folder: vscode.WorkspaceFolder | undefined,
  trusted: boolean,
): Promise<InterpreterChoice> {
  const config = vscode.workspace.getConfiguration('gradwatch', folder?.uri);
  const notes: string[] = [];
  if (trusted) {
    const configured = config.get<string>('interpreter', '').trim();
    if (configured) {
      return { command: expandVariables(configured, folder), source: 'setting' };
    }
  } else {
    const inspected = config.inspect<string>('interpreter');
    const userValue = inspected?.globalValue?.trim();
    const workspaceValue = (inspected?.workspaceFolderValue ?? inspected?.workspaceValue)?.trim();
    if (workspaceValue) {
      notes.push('ignored the workspace gradwatch.interpreter');
    }
    if (userValue) {
      return {
        command: expandVariables(userValue, undefined),
        source: 'user setting',
        restrictedNote: describeRestriction(notes),
      };
    }
  }

  const fromPythonExtension = await pythonExtensionInterpreter(folder);
  if (fromPythonExtension) {
    if (trusted || !insideAnyWorkspaceFolder(fromPythonExtension)) {
      return {
        command: fromPythonExtension,
        source: 'Python extension',
        restrictedNote: trusted ? undefined : describeRestriction(notes),
      };
    }
    notes.push(`ignored the Python environment inside the workspace (${fromPythonExtension})`);
  }
  return {
    command: FALLBACK_PYTHON,
    source: 'default',
    restrictedNote: trusted ? undefined : describeRestriction(notes),
  };
}

function describeRestriction(notes: string[]): string {
  const skipped = notes.length ? `: ${notes.join('; ')}` : '';
  return `Restricted Mode: only a user-level interpreter is run${skipped}`;
}

/** Runs `<python> -c` to read its version, so a wrong interpreter fails with a clear message, not a stack trace. */
export function checkPythonVersion(command: string, cwd: string, timeoutMs = 15000): Promise<PythonVersionCheck> {
  const script = 'import sys; print("%d.%d.%d" % sys.version_info[:3]); print(sys.executable)';
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const finish = (result: PythonVersionCheck) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(result);
      }
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(command, ['-c', script], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      finish({ ok: false, problem: `cannot run ${command}: ${String(error)}` });
      return;
    }
    const timer = setTimeout(() => {
      child.kill();
      finish({ ok: false, problem: `${command} did not answer within ${timeoutMs / 1000}s` });
    }, timeoutMs);
    child.stdout?.on('data', (chunk) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk) => (stderr += chunk.toString()));
    child.on('error', (error: NodeJS.ErrnoException) => {
      const reason = error.code === 'ENOENT' ? 'not found' : error.message;
      finish({ ok: false, problem: `cannot run ${command}: ${reason}` });
    });
    child.on('close', (code) => {
      const [versionLine = '', executableLine = ''] = stdout.trim().split(/\r?\n/);
      const version = versionLine.trim();
      const match = /^(\d+)\.(\d+)\.\d+$/.exec(version);
      if (code !== 0 || !match) {
        const detail = stderr.trim().split('\n').pop() ?? '';
        finish({ ok: false, problem: `${command} is not a working Python (exit code ${code}) ${detail}`.trim() });
        return;
      }
      const major = Number(match[1]);
      const minor = Number(match[2]);
      const [needMajor, needMinor] = MINIMUM_PYTHON;
      const ok = major > needMajor || (major === needMajor && minor >= needMinor);
      finish({
        ok,
        version,
        executable: executableLine.trim() || undefined,
        problem: ok ? undefined : `gradwatch needs Python >= ${needMajor}.${needMinor}; ${command} is Python ${version}`,
      });
    });
  });
}
