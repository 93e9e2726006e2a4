/**
 * Where do tests read the shared datasets outside the skip guard? A static pass over the test files
 * (TypeScript's parser): every use of a dataset accessor (`dataset`, `readDataset`, `listDataset`,
 * `DATASETS`, and helpers that call them, followed through the test helper modules) must sit inside
 * `describeDatasets(...)`, `testDatasets(...)`, `describeWithTools(..., describeDatasets)`, a
 * branch on `HAVE_DATASETS` or on the test's own `existsSync(...)` of what it reads. Uses inside a function declared at the top of a module count where the
 * function is used, not where it is written (it runs only when called).
 *
 * The static pass lists the unguarded uses; test/helpers/dataset-guard.test.ts also runs, with an
 * empty FACEGATE_DATASETS, every file that mixes guarded dataset suites with unguarded tests, so the
 * claim "a fresh clone passes" is checked by running the files most likely to break it.
 */
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

/** What helpers/datasets.ts exports that touches the datasets folder. */
const BASE_ACCESSORS = new Set(["DATASETS", "dataset", "readDataset", "listDataset"]);
const DATASETS_MODULE = "test/helpers/datasets.ts";
const GUARD_CALLS = new Set(["describeDatasets", "testDatasets"]);

export interface DatasetUse {
  file: string;
  line: number;
  name: string;
  guarded: boolean;
}

export interface FileReport {
  file: string;
  uses: DatasetUse[];
  /** Tests registered outside any guard (the file runs something without the datasets). */
  unguardedTests: number;
}

/** Names a module exports that read the datasets when used (memoised per module path). */
export class DatasetGuardAnalysis {
  private readonly exported = new Map<string, Set<string>>();

  constructor(private readonly root: string) {}

  /** Accessor names a module exports (helpers/datasets.ts's, or a helper's tainted top-level names). */
  accessorsOf(path: string): Set<string> {
    const rel = relative(this.root, path);
    if (rel === DATASETS_MODULE) return BASE_ACCESSORS;
    const known = this.exported.get(rel);
    if (known) return known;
    this.exported.set(rel, new Set()); // cycles: assume nothing while computing
    const result = this.analyse(path, readFileSync(path, "utf8")).tainted;
    this.exported.set(rel, result);
    return result;
  }

  /** One test file's dataset uses and its unguarded tests. */
  report(path: string, source = readFileSync(path, "utf8")): FileReport {
    const { uses, unguardedTests } = this.analyse(path, source);
    return { file: relative(this.root, path), uses, unguardedTests };
  }

  private analyse(path: string, source: string): { tainted: Set<string>; uses: DatasetUse[]; unguardedTests: number } {
    const file = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const tainted = new Set<string>();
    // Imports: accessors of the modules imported (relative imports of test helpers only).
    for (const statement of file.statements) {
      if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
      const spec = statement.moduleSpecifier.text;
      if (!spec.startsWith(".")) continue;
      const target = resolve(dirname(path), spec);
      if (!relative(this.root, target).startsWith("test/")) continue;
      const bindings = statement.importClause?.namedBindings;
      if (!bindings || !ts.isNamedImports(bindings)) continue;
      const accessors = this.accessorsOf(target);
      for (const element of bindings.elements) {
        const imported = (element.propertyName ?? element.name).text;
        if (accessors.has(imported)) tainted.add(element.name.text);
      }
    }
    // Top-level declarations that use a tainted name become tainted (to a fixed point).
    const declarations = topLevelDeclarations(file);
    let grew = true;
    while (grew) {
      grew = false;
      for (const [name, node] of declarations) {
        if (!tainted.has(name) && mentions(node, tainted)) {
          tainted.add(name);
          grew = true;
        }
      }
    }
    const deferred = new Set([...declarations].filter(([, node]) => isDeferred(node)).map(([, node]) => node));
    const uses: DatasetUse[] = [];
    let unguardedTests = 0;
    const visit = (node: ts.Node, guarded: boolean): void => {
      if (ts.isImportDeclaration(node) || deferred.has(node)) return;
      if (ts.isCallExpression(node)) {
        const callee = calleeName(node);
        if (callee !== undefined && isTestCall(callee) && !guarded) unguardedTests++;
        if (callee !== undefined && isGuardCall(node, callee)) {
          ts.forEachChild(node, (child) => visit(child, true));
          return;
        }
      }
      if ((ts.isIfStatement(node) || ts.isConditionalExpression(node)) && isGuardCondition(ts.isIfStatement(node) ? node.expression : node.condition)) {
        ts.forEachChild(node, (child) => visit(child, true));
        return;
      }
      if (ts.isIdentifier(node) && tainted.has(node.text) && !isDeclarationName(node) && !isPropertyName(node)) {
        uses.push({ file: relative(this.root, path), line: file.getLineAndCharacterOfPosition(node.getStart()).line + 1, name: node.text, guarded });
      }
      ts.forEachChild(node, (child) => visit(child, guarded));
    };
    visit(file, false);
    return { tainted: new Set([...tainted].filter((name) => isExported(declarations.get(name)))), uses, unguardedTests };
  }
}

/** Top-level functions and variables by name (the node that holds the declaration). */
function topLevelDeclarations(file: ts.SourceFile): Map<string, ts.Node> {
  const out = new Map<string, ts.Node>();
  for (const statement of file.statements) {
    if (ts.isFunctionDeclaration(statement) && statement.name) out.set(statement.name.text, statement);
    else if (ts.isClassDeclaration(statement) && statement.name) out.set(statement.name.text, statement);
    else if (ts.isVariableStatement(statement)) {
      for (const d of statement.declarationList.declarations) if (ts.isIdentifier(d.name)) out.set(d.name.text, d);
    }
  }
  return out;
}

/**
 * Reads nothing where it is written: a function (declaration, or a const holding an arrow/function
 * expression), a class, or a const that only computes a path (`resolve(DATASETS, ...)`, `join(...)`,
 * `dataset(...)`): those read when used.
 */
function isDeferred(node: ts.Node): boolean {
  if (ts.isFunctionDeclaration(node) || ts.isClassDeclaration(node)) return true;
  if (!ts.isVariableDeclaration(node) || node.initializer === undefined) return false;
  const init = node.initializer;
  if (ts.isArrowFunction(init) || ts.isFunctionExpression(init)) return true;
  return ts.isCallExpression(init) && ts.isIdentifier(init.expression) && PATH_CALLS.has(init.expression.text);
}
const PATH_CALLS = new Set(["resolve", "join", "dataset"]);

function isExported(node: ts.Node | undefined): boolean {
  const holder = node && ts.isVariableDeclaration(node) ? node.parent.parent : node;
  return holder !== undefined && ts.canHaveModifiers(holder) && (ts.getModifiers(holder) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

function mentions(node: ts.Node, names: Set<string>): boolean {
  let found = false;
  const walk = (n: ts.Node): void => {
    if (found) return;
    if (ts.isIdentifier(n) && names.has(n.text) && !isPropertyName(n)) found = true;
    else ts.forEachChild(n, walk);
  };
  const body = ts.isVariableDeclaration(node) ? node.initializer : node;
  if (body) walk(body);
  return found;
}

function mentionsHaveDatasets(node: ts.Node): boolean {
  return mentions(node, new Set(["HAVE_DATASETS"]));
}

/** `if (HAVE_DATASETS)`, or a test's own check that the file it reads is there (`existsSync(...)`). */
function isGuardCondition(node: ts.Node): boolean {
  return mentions(node, new Set(["HAVE_DATASETS", "existsSync"]));
}

function calleeName(call: ts.CallExpression): string | undefined {
  let e: ts.Expression = call.expression;
  // test.skipIf(...)(...), describe.each(...)(...): the name at the root
  while (ts.isCallExpression(e) || ts.isPropertyAccessExpression(e)) e = ts.isCallExpression(e) ? e.expression : e.expression;
  return ts.isIdentifier(e) ? e.text : undefined;
}

function isTestCall(name: string): boolean {
  return name === "test" || name === "it";
}

function isGuardCall(call: ts.CallExpression, callee: string): boolean {
  if (GUARD_CALLS.has(callee)) return true;
  // describeWithTools(tools, name, fn, describeDatasets)
  const last = call.arguments.at(-1);
  if (callee === "describeWithTools" && last !== undefined && ts.isIdentifier(last) && last.text === "describeDatasets") return true;
  // test.if(HAVE_DATASETS)(...) / describe.skipIf(!HAVE_DATASETS)(...)
  return ts.isCallExpression(call.expression) && call.expression.arguments.some(mentionsHaveDatasets);
}

function isDeclarationName(node: ts.Identifier): boolean {
  const p = node.parent;
  return (
    ((ts.isVariableDeclaration(p) || ts.isFunctionDeclaration(p) || ts.isParameter(p) || ts.isImportSpecifier(p) || ts.isBindingElement(p)) && p.name === node) ||
    ts.isImportSpecifier(p)
  );
}

function isPropertyName(node: ts.Identifier): boolean {
  const p = node.parent;
  return (ts.isPropertyAccessExpression(p) && p.name === node) || (ts.isPropertyAssignment(p) && p.name === node);
}

/** Every *.test.ts under test/, relative to the root. */
export function testFiles(root: string): string[] {
  const glob = new Bun.Glob("test/**/*.test.ts");
  return [...glob.scanSync({ cwd: root })].sort().map((f) => join(root, f));
}
