import{aR as i}from"./console-BnDhKdCF.js";const n=o=>["",...i].includes(o);export{n as i};
