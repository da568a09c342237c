import{b1 as i}from"./index-BnuMGcDG.js";const n=o=>["",...i].includes(o);export{n as i};
