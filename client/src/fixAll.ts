import * as vscode from 'vscode';

export const FIX_ALL_KIND = vscode.CodeActionKind.SourceFixAll.append('gradwatch');

/**
 * Asks the server for its `source.fixAll.gradwatch` action on the whole active document and applies it.
 * Going through VS Code's code-action machinery (rather than a private request) means the same action also
 * runs from `editor.codeActionsOnSave`.
 */
export async function fixAllInActiveEditor(output: vscode.LogOutputChannel): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== 'python') {
    void vscode.window.showInformationMessage('gradwatch: open a Python file or notebook cell to fix.');
    return;
  }
  const document = editor.document;
  const wholeDocument = new vscode.Range(0, 0, document.lineCount, 0);
  const actions =
    (await vscode.commands.executeCommand<(vscode.CodeAction | vscode.Command)[]>(
      'vscode.executeCodeActionProvider',
      document.uri,
      wholeDocument,
      FIX_ALL_KIND.value,
    )) ?? [];
  const ours = actions.filter(
    (action): action is vscode.CodeAction => 'kind' in action && !!action.kind && FIX_ALL_KIND.contains(action.kind),
  );
  let applied = 0;
  for (const action of ours) {
    if (action.edit && action.edit.size > 0) {
      if (await vscode.workspace.applyEdit(action.edit)) {
        applied += 1;
      } else {
        output.warn(`could not apply "${action.title}" to ${document.uri.toString()}`);
      }
    }
    if (action.command) {
      await vscode.commands.executeCommand(action.command.command, ...(action.command.arguments ?? []));
      applied += 1;
    }
  }
  const message = applied ? 'gradwatch: applied all safe fixes.' : 'gradwatch: nothing to fix.';
  output.info(`${message} (${document.uri.toString()})`);
  void vscode.window.setStatusBarMessage(message, 4000);
}
