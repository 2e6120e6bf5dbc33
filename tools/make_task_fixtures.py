#!/usr/bin/env python3
"""Expected prompt texts of the built-in tasks, produced by princeton-nlp/MeZO's own template code.

  python3 tools/make_task_fixtures.py --mezo-git /path/to/MeZO/.git   # or --mezo DIR (a checkout)

For each Tests/Fixtures/tasks/<task>.jsonl (five rows made for the tests, in the columns of the
original data sets), writes <task>.expected.json: per row, the prompt text and each label's
continuation text exactly as MeZO builds them. The Swift test (BuiltinTaskPromptTests) renders the
same rows through Sources/Tasks/BuiltinTasks/<task>.json and requires identical strings.

- large_models (SST-2, RTE, CB, BoolQ, WiC, WSC, COPA, MultiRC, SQuAD, DROP): the template classes of
  large_models/templates.py are executed as they are; the prompt is encode_prompt's (utils.py) for
  zero demonstrations: (train_sep + encode(sample).strip(' ')).lstrip().strip(' '), and a candidate's
  continuation is verbalize(sample, candidate).strip(' ') minus that prompt. Candidates and gold
  labels follow large_models/tasks.py's build_sample.
- medium_models (SST-5, MR, CR, MPQA, Subj, TREC): tokenize_multipart_input of
  medium_models/src/dataset.py is executed (its source is taken from the file) with a stand-in
  tokenizer whose "tokens" are the text pieces themselves, on TEMPLATE and MAPPING of
  medium_models/run_fewshot.sh. The prompt is the text before *mask*; a label's continuation is
  " " + its word (RoBERTa's label tokens carry the space), or, when *mask* opens the template
  (TREC), the word followed by the rest of the text.
Nothing of MeZO is copied into this repository: only the strings its code printed.
"""

import argparse
import ast
import json
import os
import re
import subprocess
import types

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Tests", "Fixtures", "tasks")

LARGE = {  # task -> (template class, candidates(row), gold candidate(row))
    "sst2": ("SST2Template", lambda r: [0, 1], lambda r: r["label"]),
    "rte": ("RTETemplate", lambda r: [0, 1], lambda r: r["label"]),
    "cb": ("CBTemplate", lambda r: [0, 1, 2], lambda r: r["label"]),
    "boolq": ("BoolQTemplateV3", lambda r: ["Yes", "No"], lambda r: "Yes" if r["answer"] else "No"),
    "wic": ("WICTemplate", lambda r: [0, 1], lambda r: r["label"]),
    "wsc": ("WSCTemplate", lambda r: [0, 1], lambda r: r["label"]),
    "copa": ("CopaTemplate", lambda r: [r["choice1"], r["choice2"]], lambda r: r[f"choice{r['label'] + 1}"]),
    "multirc": ("MultiRCTemplate", lambda r: [0, 1], lambda r: r["label"]),
    "squad": ("SQuADv2Template", None, None),
    "drop": ("DROPTemplate", None, None),
}
MEDIUM = {"sst5": "sst-5", "mr": "mr", "cr": "cr", "mpqa": "mpqa", "subj": "subj", "trec": "trec"}


class Reader:
    def __init__(self, args):
        self.args = args

    def __call__(self, path):
        if self.args.mezo:
            with open(os.path.join(self.args.mezo, path), encoding="utf-8") as f:
                return f.read()
        return subprocess.run(["git", "--git-dir", self.args.mezo_git, "show", f"HEAD:{path}"],
                              check=True, capture_output=True, text=True).stdout


def load_rows(task):
    with open(os.path.join(FIXTURES, f"{task}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def large(read):
    ns = {}
    exec(compile(read("large_models/templates.py"), "large_models/templates.py", "exec"), ns)
    out = {}
    for task, (cls, candidates, gold) in LARGE.items():
        template = ns[cls]()
        expected = []
        for row in load_rows(task):
            sample = types.SimpleNamespace(data=row)
            prompt = ("\n\n" + template.encode(sample).strip(" ")).lstrip().strip(" ")
            item = {"prompt": prompt}
            if candidates is None:
                full = template.verbalize(sample, None).strip(" ")
                assert full.startswith(prompt)
                item["target"] = full[len(prompt):]
            else:
                conts = []
                for c in candidates(row):
                    full = template.verbalize(sample, c).strip(" ")
                    assert full.startswith(prompt), (task, full, prompt)
                    conts.append(full[len(prompt):])
                item["candidates"] = conts
                item["label"] = candidates(row).index(gold(row))
            expected.append(item)
        out[task] = expected
    return out


class StandInTokenizer:
    """Tokens are the text pieces themselves, so the 'ids' join back into the text."""
    cls_token_id, bos_token_id, eos_token_id = "<cls>", "<bos>", "<eos>"
    mask_token_id, sep_token_id, pad_token_id = "<mask>", "<sep>", "<pad>"
    model_type = "roberta"

    def encode(self, text, add_special_tokens=False):
        return [text]

    def convert_tokens_to_ids(self, token):
        return token


def medium(read):
    source = read("medium_models/src/dataset.py")
    tree = ast.parse(source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "tokenize_multipart_input")
    ns = {"logger": types.SimpleNamespace(warn=lambda *a: None), "pd": types.SimpleNamespace(isna=lambda x: False)}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "medium_models/src/dataset.py", "exec"), ns)
    script = read("medium_models/run_fewshot.sh")
    out = {}
    for task, name in MEDIUM.items():
        block = re.search(r"\n\s*" + re.escape(name) + r"\)\n(.*?);;", script, re.S).group(1)
        template = re.search(r'TEMPLATE="?([^"\n]+)"?', block).group(1)
        mapping = eval(re.search(r'MAPPING="(.+)"', block).group(1))
        words = [mapping[k] for k in sorted(mapping, key=lambda k: int(k))]
        expected = []
        for row in load_rows(task):
            ids = ns["tokenize_multipart_input"]([row["sentence"]], 10_000, StandInTokenizer(), prompt=True,
                                                  template=template, label_word_list=words)["input_ids"]
            pieces = [p for p in ids if p not in ("<cls>", "<bos>")]
            mask = pieces.index("<mask>")
            before = "".join(pieces[:mask])
            after = "".join(p for p in pieces[mask + 1:] if p not in ("<sep>",))
            prompt = ("\n\n" + before.strip(" ")).lstrip().strip(" ")
            if prompt:
                conts = [" " + w for w in words]
            else:
                conts = [w + after for w in words]
            expected.append({"prompt": prompt, "candidates": conts, "label": int(row["label"]),
                             "mezo_template": template})
        out[task] = expected
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--mezo", help="a checkout of princeton-nlp/MeZO")
    g.add_argument("--mezo-git", help="the git directory of princeton-nlp/MeZO (read with git show HEAD:...)")
    read = Reader(ap.parse_args())
    everything = {**large(read), **medium(read)}
    for task, expected in sorted(everything.items()):
        path = os.path.join(FIXTURES, f"{task}.expected.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(expected, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(f"{path}: {len(expected)} rows")


if __name__ == "__main__":
    main()
