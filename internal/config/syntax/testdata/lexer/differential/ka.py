import subprocess, glob, re, os, sys
d=sys.argv[1] if len(sys.argv)>1 else '/tmp/diff/cases'
out=[]
for f in sorted(glob.glob(d+'/*.conf')):
    name=os.path.basename(f)
    try:
        p=subprocess.run(['keepalived','-t','-P','-i','main','-f',name],capture_output=True,timeout=10,cwd=d)
        txt=(p.stdout+p.stderr).decode('latin1')
    except subprocess.TimeoutExpired:
        out.append('== '+name); out.append('TIMEOUT'); continue
    msgs=[]
    for line in txt.split('\n'):
        m=re.match(r'\(%s: Line (\d+)\) (.*)$'%re.escape(name),line)
        if not m: continue
        ln,msg=m.group(1),m.group(2)
        m2=re.match(r"Unknown keyword '(.*)'$",msg)
        if m2: msgs.append((ln,m2.group(1)))
        elif msg=="Unexpected '{' - ignoring": msgs.append((ln,'{'))
        elif msg.startswith('Missing'): msgs.append((ln,'MISSING'))
    # children print the same messages 3 times (or fewer)
    k=len(msgs)//3 if len(msgs)%3==0 else len(msgs)
    out.append('== '+name)
    for ln,w in msgs[:k]:
        out.append('%s\t%s'%(ln,w))
open(d+'/ka.out','w').write('\n'.join(out)+'\n')
